package discovery

import (
	"fmt"
	"os"
	"strings"
)

// tokenSource yields the bearer token for the next request. A file is read
// again for every request: Kubernetes rotates bound service account tokens
// in place (about hourly, and at 80 % of their lifetime), and one small read
// per discovery round costs less than any cache that could go stale.
type tokenSource struct {
	file   string // read per request when set
	static string // used when file is empty
}

// token returns the current token, "" for anonymous requests.
func (ts tokenSource) token() (string, error) {
	if ts.file == "" {
		return ts.static, nil
	}
	b, err := os.ReadFile(ts.file)
	if err != nil {
		return "", fmt.Errorf("%w: cannot read token file %s: %w", ErrUnauthorized, ts.file, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// describe names the token source for an error message.
func (ts tokenSource) describe() string {
	switch {
	case ts.file != "":
		return "the token from file " + ts.file
	case ts.static != "":
		return "the token from KubernetesConfig.Token"
	default:
		return "no token (KubernetesConfig has neither Token nor TokenFile, so requests are anonymous)"
	}
}
