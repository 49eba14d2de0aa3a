package check

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/coder/websocket"

	"uptime/internal/text"
)

// WebSocket is the check of a ws:// or wss:// URL: the upgrade succeeds;
// Send, if any, is sent as a text message; and, with Expect, the first
// message that comes must contain it.
type WebSocket struct {
	URL    string
	Send   string
	Expect string
}

// Do upgrades, and talks as the check says.
func (w *WebSocket) Do(ctx context.Context, a *Attempt) {
	conn, resp, err := websocket.Dial(ctx, w.URL, &websocket.DialOptions{
		HTTPClient: a.client,
		HTTPHeader: http.Header{"User-Agent": {a.userAgent}, CheckHeader: {"1"}},
	})
	if resp != nil {
		a.Status = resp.StatusCode
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			exp := resp.TLS.PeerCertificates[0].NotAfter
			a.CertExpiry = &exp
		}
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			a.Reason = fmt.Sprintf("the WebSocket upgrade was refused: HTTP %d", resp.StatusCode)
		} else {
			a.Reason = a.reason(ctx, err)
		}
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxReplyRead)
	if w.Send != "" {
		if err := conn.Write(ctx, websocket.MessageText, []byte(w.Send)); err != nil {
			a.Reason = "sending: " + a.reason(ctx, err)
			return
		}
	}
	if w.Expect != "" {
		_, msg, err := conn.Read(ctx)
		switch {
		case err != nil:
			a.Reason = fmt.Sprintf("%s, waiting for %s", a.reason(ctx, err), strconv.Quote(text.Cut(w.Expect, 100)))
			return
		case !bytes.Contains(msg, []byte(w.Expect)):
			a.Reason = fmt.Sprintf("%s not in the first message; got %s", strconv.Quote(text.Cut(w.Expect, 100)), quoteReply(msg))
			return
		}
	}
	conn.Close(websocket.StatusNormalClosure, "")
	a.Up = true
}
