package sendgridprism

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/internal/prism"
)

// BenchmarkPrismStart measures how long Prism takes from exec to listening
// with each of SendGrid's documents.
func BenchmarkPrismStart(b *testing.B) {
	bin, err := prism.Find()
	if err != nil {
		b.Skip(err)
	}
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	for _, name := range []string{sendgridfake.SpecAPIKeys, sendgridfake.SpecScopes} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p, err := prism.Start(context.Background(), bin, sendgridfake.SpecPath(name), up.URL)
				if err != nil {
					b.Fatal(err)
				}
				_ = p.Close()
			}
		})
	}
}
