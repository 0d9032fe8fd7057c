package twilioprism

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/prism"
)

// BenchmarkPrismStart measures how long Prism takes from exec to listening
// with each of Twilio's documents (the 2010 one is 1.8 MB): the reason a
// test package shares one Env.
func BenchmarkPrismStart(b *testing.B) {
	bin, err := prism.Find()
	if err != nil {
		b.Skip(err)
	}
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	dir := b.TempDir()
	for _, name := range []string{twiliofake.SpecAPI, twiliofake.SpecIAM, twiliofake.SpecAccounts} {
		spec, err := Errata(twiliofake.SpecPath(name), dir)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p, err := prism.Start(context.Background(), bin, spec, up.URL)
				if err != nil {
					b.Fatal(err)
				}
				_ = p.Close()
			}
		})
	}
}

// BenchmarkFetchAccount compares one twilio-go call straight to the fake
// with the same call through Prism.
func BenchmarkFetchAccount(b *testing.B) {
	env, err := Start(twiliofake.Config{})
	if err != nil {
		b.Skip(err)
	}
	defer env.Close()
	acct := env.Fake.CreateAccount("")
	for name, ep := range map[string]twiliofake.Endpoints{"direct": env.Fake.Endpoints(), "prism": env.Endpoints} {
		c := twiliofake.NewRestClient(ep, nil, acct.Sid, acct.AuthToken, acct.Sid)
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.Api.FetchAccount(acct.Sid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
