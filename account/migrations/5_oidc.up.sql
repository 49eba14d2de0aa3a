-- Sign-ins through an identity provider under way: the state a browser
-- carries to the provider and back (also in its cookie), with the nonce
-- and PKCE verifier that go with it, so that any instance can finish it.
CREATE TABLE oidc_login (
    state TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
