package statuspage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/internal/smtptest"
)

// A visitor subscribes with an address, is sent a link to confirm and,
// once confirmed through it, hears each written incident, each update and
// each maintenance announced, once each, with a one-click unsubscribe
// link and header in every message; after unsubscribing, nothing more.
// An address never confirmed hears nothing but its confirmation. Bad
// input is refused, and a client asking too often is held back.
func TestSubscribers(t *testing.T) {
	mb := newMailbox(t)
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{
		Prefix: prefix,
		Configure: func(c *config.Config) {
			c.SMTPURL = "smtp://" + mb.Addr + "/?from=Acme+status+%3Cstatus@acme.test%3E&tls=none"
		},
		Options: app.Options{RetryBackoff: 50 * time.Millisecond, AnnounceEvery: 300 * time.Millisecond},
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var web struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Web"}`, srv.URL), &web)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme status", "subscriptions": true,
		"groups": [{"name": "Public", "sites": [%d]}]}`, web.ID), nil)
	a.Call(t, "POST", "/status-page", `{"slug": "quiet", "title": "Quiet"}`, nil)
	anon := apptest.Client{URL: a.URL}
	requests := 0
	subscribe := func(slug, email string) (int, string) {
		requests++
		return anon.Do(t, "POST", "/p/"+slug+"/subscribe", url.Values{"email": {email}}.Encode(),
			"Content-Type", "application/x-www-form-urlencoded")
	}

	if _, body := anon.Do(t, "GET", "/p/acme", ""); !strings.Contains(body, `action="/p/acme/subscribe"`) || !strings.Contains(body, `name="email"`) {
		t.Errorf("the page shows no form to subscribe:\n%s", body)
	}
	if _, body := anon.Do(t, "GET", "/p/quiet", ""); strings.Contains(body, "/subscribe") {
		t.Error("a page without subscriptions shows a form to subscribe")
	}
	if status, body := subscribe("acme", "Ann@Example.com"); status != http.StatusAccepted || !strings.Contains(body, "Check your inbox") {
		t.Fatalf("subscribe: %d\n%s", status, body)
	}
	subscribe("acme", "bob@example.com")
	subscribe("acme", "ann@example.com") // a second ask within minutes sends nothing more
	for _, bad := range []string{"not-an-address", "Ann <ann@example.com>", "ann@localhost", ""} {
		if status, body := subscribe("acme", bad); status != http.StatusBadRequest || !strings.Contains(body, "email must be an address") {
			t.Errorf("subscribe %q: %d, want 400 naming email\n%s", bad, status, body)
		}
	}
	if status, _ := subscribe("quiet", "ann@example.com"); status != http.StatusNotFound {
		t.Errorf("subscribe to a page without subscriptions: %d, want 404", status)
	}
	requests-- // refused before it counts

	confirmMail := mb.waitFor(t, "ann@example.com", 1)[0]
	if got := confirmMail.subject; got != "Confirm your subscription to Acme status" {
		t.Errorf("the confirmation's subject: %q", got)
	}
	if !strings.Contains(confirmMail.header.Get("From"), "status@acme.test") {
		t.Errorf("the confirmation's From: %q", confirmMail.header.Get("From"))
	}
	checkUnsubscribeHeader(t, a.URL, confirmMail)
	token := confirmMail.link(t, "confirm")
	mb.waitFor(t, "bob@example.com", 1)

	var subs struct {
		Subscribers []struct {
			ID        int64
			Email     string
			Confirmed bool
		}
	}
	listed := func() map[string]bool {
		a.Call(t, "GET", "/status-page/acme/subscriber", "", &subs)
		out := map[string]bool{}
		for _, s := range subs.Subscribers {
			out[s.Email] = s.Confirmed
		}
		return out
	}
	if got := listed(); len(got) != 2 || got["ann@example.com"] || got["bob@example.com"] {
		t.Errorf("subscribers before confirming: %v, want ann and bob, neither confirmed", got)
	}
	// Following the link shows a button; it is the button that confirms.
	if status, body := anon.Do(t, "GET", "/p/acme/confirm?token="+token, ""); status != http.StatusOK || !strings.Contains(body, `value="`+token+`"`) {
		t.Errorf("GET the confirmation link: %d\n%s", status, body)
	}
	if listed()["ann@example.com"] {
		t.Error("following the link confirmed the subscription without the button")
	}
	form := "application/x-www-form-urlencoded"
	if status, body := anon.Do(t, "POST", "/p/acme/confirm", "token=wrong-token", "Content-Type", form); status != http.StatusNotFound {
		t.Errorf("confirm a wrong token: %d\n%s", status, body)
	}
	if status, body := anon.Do(t, "POST", "/p/acme/confirm", "token="+token, "Content-Type", form); status != http.StatusOK || !strings.Contains(body, "Subscribed") {
		t.Errorf("confirm: %d\n%s", status, body)
	}
	if got := listed(); !got["ann@example.com"] || got["bob@example.com"] {
		t.Errorf("subscribers after ann confirmed: %v", got)
	}

	// An incident, an update of it, a change of that update (no message),
	// and maintenance announced.
	var inc struct {
		ID      int64
		Updates []struct{ ID int64 }
	}
	a.Call(t, "POST", "/status-page/acme/incident", `{"title": "Checkout errors", "status": "investigating",
		"message": "Payments **fail** for some."}`, &inc)
	a.Call(t, "POST", fmt.Sprintf("/status-page/acme/incident/%d/update", inc.ID), `{"status": "identified", "message": "A bad deploy."}`, &inc)
	a.Call(t, "PATCH", fmt.Sprintf("/status-page/acme/incident/%d/update/%d", inc.ID, inc.Updates[0].ID), `{"message": "A bad deploy, rolled back."}`, nil)
	start := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Minute)
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Database upgrade", "sites": [%d], "start": %q, "end": %q}`,
		web.ID, start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)), nil)

	got := mb.waitFor(t, "ann@example.com", 4)
	time.Sleep(2 * time.Second) // several looks for maintenance more
	got = mb.to("ann@example.com")
	var subjects []string
	for _, m := range got[1:] {
		subjects = append(subjects, m.subject)
		checkUnsubscribeHeader(t, a.URL, m)
	}
	want := []string{"[Acme status] Incident: Checkout errors (Investigating)", "[Acme status] Checkout errors: Identified",
		"[Acme status] Scheduled maintenance: Database upgrade"}
	if strings.Join(subjects, "\n") != strings.Join(want, "\n") {
		t.Errorf("ann's messages after the confirmation:\n%s\nwant, once each:\n%s", strings.Join(subjects, "\n"), strings.Join(want, "\n"))
	}
	if len(got) > 1 && (!strings.Contains(got[1].text, "Payments **fail** for some.") || !strings.Contains(got[1].html, "<strong>fail</strong>")) {
		t.Errorf("the incident's message, as text and HTML:\n%s\n%s", got[1].text, got[1].html)
	}
	if len(got) > 3 && !strings.Contains(got[3].text, start.Format("Mon 2 Jan 2006 15:04")) {
		t.Errorf("the maintenance's message gives no start:\n%s", got[3].text)
	}

	// One click ends the subscription, as a mail client does it.
	unsubscribe := strings.Trim(got[len(got)-1].header.Get("List-Unsubscribe"), "<>")
	req, _ := http.NewRequest("POST", unsubscribe, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", form)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("one-click unsubscribe: %d", resp.StatusCode)
	}
	if _, ok := listed()["ann@example.com"]; ok {
		t.Error("ann is still a subscriber after unsubscribing")
	}
	// Carol, subscribed and confirmed now, hears the next update: ann does
	// not, nor does bob, who never confirmed.
	subscribe("acme", "carol@example.com")
	carolToken := mb.waitFor(t, "carol@example.com", 1)[0].link(t, "confirm")
	anon.Do(t, "POST", "/p/acme/confirm?token="+carolToken, "", "Content-Type", form)
	// The mail server fails twice first: the message is sent again, once.
	mb.Refuse(2)
	a.Call(t, "POST", fmt.Sprintf("/status-page/acme/incident/%d/update", inc.ID), `{"status": "resolved", "message": "Fixed."}`, nil)
	if carol := mb.waitFor(t, "carol@example.com", 2); carol[1].subject != "[Acme status] Checkout errors: Resolved" {
		t.Errorf("carol's message: %q", carol[1].subject)
	}
	time.Sleep(time.Second)
	refused := mb.Refused()
	if n := len(mb.to("carol@example.com")); n != 2 || refused != 2 {
		t.Errorf("carol got %d messages, the server refused %d: want 2 after 2 refused", n, refused)
	}
	if n := len(mb.to("ann@example.com")); n != 4 {
		t.Errorf("ann got %d messages in all, want 4: nothing after unsubscribing", n)
	}
	if bob := mb.to("bob@example.com"); len(bob) != 1 {
		t.Errorf("bob, never confirmed, got %d messages, want his confirmation alone", len(bob))
	}

	// A notice written with its update by a process that died before it
	// queued it is sent by the next sweep.
	db, err := pgxpool.New(context.Background(), pgtest.Cluster(t).URL(prefix+"statuspage"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(context.Background(), `INSERT INTO page_notice (slug, key, subject, body)
		VALUES ('acme', 'update:left-behind', '[Acme status] Left behind', 'Sent by the sweep.')`); err != nil {
		t.Fatal(err)
	}
	if carol := mb.waitFor(t, "carol@example.com", 3); carol[2].subject != "[Acme status] Left behind" {
		t.Errorf("carol's third message: %q", carol[2].subject)
	}
	// A notice claimed for carol by a process that died while sending it
	// is sent once its claim lapses; one another process is sending now
	// waits for it, and is not sent twice when that one records it sent.
	var carolID int64
	if err := db.QueryRow(context.Background(), `SELECT id FROM page_subscriber WHERE email = 'carol@example.com'`).Scan(&carolID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `WITH n AS (INSERT INTO page_notice (slug, key, subject, body, queued_at) VALUES
			('acme', 'update:died', '[Acme status] Claimed by the dead', 'x', now()),
			('acme', 'update:busy', '[Acme status] Claimed by the living', 'x', now()) RETURNING id, key)
		INSERT INTO page_notice_sent (notice_id, subscriber_id, claimed_at)
		SELECT id, $1, CASE WHEN key = 'update:died' THEN now() - interval '1 hour' ELSE now() END FROM n`, carolID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `INSERT INTO page_notice (slug, key, subject, body) VALUES
		('acme', 'update:after', '[Acme status] After both', 'x')`); err != nil {
		t.Fatal(err)
	}
	mb.waitFor(t, "carol@example.com", 4)
	time.Sleep(2 * time.Second) // the later notice waits for the one being sent
	if n := len(mb.to("carol@example.com")); n != 4 {
		t.Errorf("carol got %d messages while an earlier one was being sent, want 4: the lapsed one, and none out of order", n)
	}
	if _, err := db.Exec(context.Background(), `UPDATE page_notice_sent SET sent_at = now()
		WHERE notice_id = (SELECT id FROM page_notice WHERE key = 'update:busy')`); err != nil {
		t.Fatal(err)
	}
	var later []string
	for _, m := range mb.waitFor(t, "carol@example.com", 5)[3:] {
		later = append(later, m.subject)
	}
	time.Sleep(time.Second)
	if got := strings.Join(later, ", "); len(mb.to("carol@example.com")) != 5 || got != "[Acme status] Claimed by the dead, [Acme status] After both" {
		t.Errorf("carol's messages after the claims: %s (%d in all), want the lapsed one, then the later, once each", got, len(mb.to("carol@example.com")))
	}

	// The key holder removes a subscriber.
	listed()
	var bobID int64
	for _, s := range subs.Subscribers {
		if s.Email == "bob@example.com" {
			bobID = s.ID
		}
	}
	a.Call(t, "DELETE", fmt.Sprintf("/status-page/acme/subscriber/%d", bobID), "", nil)
	if status, _ := a.Do(t, "DELETE", fmt.Sprintf("/status-page/acme/subscriber/%d", bobID), ""); status != http.StatusNotFound {
		t.Errorf("removing a subscriber twice: %d, want 404", status)
	}
	if _, ok := listed()["bob@example.com"]; ok {
		t.Error("bob is still listed after his removal")
	}

	// A client asking too often is held back.
	for requests < 10 {
		subscribe("acme", fmt.Sprintf("x%d@example.com", requests))
	}
	if status, _ := subscribe("acme", "erin@example.com"); status != http.StatusTooManyRequests {
		t.Errorf("the 11th request to subscribe within the hour: %d, want 429", status)
	}
}

// Subscribing through the API, with JSON, is answered with JSON: a
// message, or an error naming the field.
func TestSubscribeWithJSON(t *testing.T) {
	mb := newMailbox(t)
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.SMTPURL = "smtp://" + mb.Addr + "/?from=status@acme.test&tls=none"
	}})
	a.Call(t, "POST", "/status-page", `{"slug": "acme", "title": "Acme status", "subscriptions": true}`, nil)
	anon := apptest.Client{URL: a.URL}
	if status, body := anon.Do(t, "POST", "/p/acme/subscribe", `{"email": "dave@example.com"}`, "Content-Type", "application/json"); status != http.StatusOK ||
		!strings.HasPrefix(body, `{"message":"Unless dave@example.com was sent one`) {
		t.Errorf("subscribe with JSON: %d %s, want 200 and a JSON message", status, body)
	}
	if status, body := anon.Do(t, "POST", "/p/acme/subscribe", `{"email": "dave"}`, "Content-Type", "application/json"); status != http.StatusBadRequest ||
		!strings.Contains(body, `"code":"invalid_argument"`) || !strings.Contains(body, "email must be an address") {
		t.Errorf("subscribe with JSON, a bad address: %d %s, want a JSON 400 naming email", status, body)
	}
	mb.waitFor(t, "dave@example.com", 1)
	if status, body := anon.Do(t, "POST", "/p/acme/subscribe", `{"address": "dave@example.com"}`, "Content-Type", "application/json"); status != http.StatusBadRequest || !strings.Contains(body, "unknown field") {
		t.Errorf("subscribe with JSON naming another field: %d %s", status, body)
	}
}

// A server without --smtp-url lets no page take subscribers.
func TestSubscriptionsNeedMail(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	status, body := a.Refusal(t, "POST", "/status-page", `{"slug": "acme", "title": "Acme", "subscriptions": true}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "subscriptions") || !strings.Contains(body, "--smtp-url") {
		t.Errorf("subscriptions without mail: %d %s", status, body)
	}
	if status, _ := a.Do(t, "GET", "/status-page/acme", ""); status != http.StatusNotFound {
		t.Errorf("the page refused was stored: %d", status)
	}
}

// checkUnsubscribeHeader checks a message's one-click unsubscribe header,
// and that its text has the same link.
func checkUnsubscribeHeader(t *testing.T, base string, m received) {
	t.Helper()
	link := strings.Trim(m.header.Get("List-Unsubscribe"), "<>")
	if !strings.HasPrefix(link, base+"/p/acme/unsubscribe?token=") || m.header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("%q: List-Unsubscribe %q, List-Unsubscribe-Post %q", m.subject, m.header.Get("List-Unsubscribe"), m.header.Get("List-Unsubscribe-Post"))
	}
	if !strings.Contains(m.text, "Unsubscribe: "+link) || !strings.Contains(m.html, "Unsubscribe</a>") {
		t.Errorf("%q has no link to unsubscribe in its text and HTML:\n%s", m.subject, m.text)
	}
}

// received is a message the mailbox was given, read back.
type received struct {
	to, subject string
	header      mail.Header
	text, html  string
}

// link returns the token of the message's link to the page's path.
func (m received) link(t *testing.T, path string) string {
	t.Helper()
	match := regexp.MustCompile(`/p/acme/` + path + `\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(m.text)
	if match == nil {
		t.Fatalf("%q has no %s link:\n%s", m.subject, path, m.text)
	}
	return match[1]
}

// mailbox is a loopback mail server whose messages are read back.
type mailbox struct {
	*smtptest.Server
	t *testing.T
}

func newMailbox(t *testing.T) *mailbox { return &mailbox{Server: smtptest.Start(t), t: t} }

// to returns the messages to the address, in the order given.
func (mb *mailbox) to(addr string) []received {
	var out []received
	for _, m := range mb.Messages() {
		if m.To == addr {
			out = append(out, read(mb.t, m))
		}
	}
	return out
}

// waitFor waits up to 30 seconds for n messages to the address.
func (mb *mailbox) waitFor(t *testing.T, addr string, n int) []received {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := mb.to(addr)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			var subjects []string
			for _, m := range got {
				subjects = append(subjects, m.subject)
			}
			t.Fatalf("%s got %d messages in 30 s, want %d: %q", addr, len(got), n, subjects)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// read reads a message back: its header, and its text and HTML parts
// decoded.
func read(t *testing.T, raw smtptest.Message) received {
	msg, err := mail.ReadMessage(bytes.NewReader(raw.Data))
	if err != nil {
		t.Fatalf("read a message: %v", err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	m := received{to: raw.To, subject: subject, header: msg.Header}
	if err := readParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m); err != nil {
		t.Errorf("read a message: %v", err)
	}
	return m
}

// readParts keeps a message's text/plain and text/html parts, decoded.
func readParts(contentType, encoding string, body io.Reader, m *received) error {
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch media {
	case "text/plain":
		m.text = string(b)
	case "text/html":
		m.html = string(b)
	}
	return nil
}
