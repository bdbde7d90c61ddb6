package discovery

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Get sends one GET to the API server with the current token and returns the
// response whatever its status; the caller reads and closes the body. It is
// the transport under the swarm compatibility adapter's ClientKubernetes,
// whose callers build their own URLs and decode their own JSON.
//
// target is a path ("/api/v1/namespaces/default/pods?labelSelector=app%3Dx"),
// resolved against BaseURL, or an absolute URL on the API server itself;
// a URL on any other host is refused with ErrInvalidConfig so that the token
// never leaves for it. A 401 is retried once with the token file read
// again. A request that fails without a response returns an error wrapping
// ErrUnreachable.
func (k *Kubernetes) Get(ctx context.Context, target string) (*http.Response, error) {
	u, err := k.resolve(target)
	if err != nil {
		return nil, err
	}
	resp, err := k.do(ctx, u)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized || k.s.tokenSource.file == "" {
		return resp, nil
	}
	// A GET has no body to replay, so the retry is safe.
	resp.Body.Close()
	return k.do(ctx, u)
}

func (k *Kubernetes) resolve(target string) (string, error) {
	ref, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("%w: Get %q: %w", ErrInvalidConfig, target, err)
	}
	base := k.s.baseURL
	if ref.IsAbs() || ref.Host != "" {
		if ref.Scheme != base.Scheme || ref.Host != base.Host {
			return "", fmt.Errorf("%w: Get %q: not on the API server %s; the token is only sent there", ErrInvalidConfig, target, base.Redacted())
		}
		return ref.String(), nil
	}
	if !strings.HasPrefix(ref.Path, "/") {
		return "", fmt.Errorf("%w: Get %q: want an absolute path or a URL on %s", ErrInvalidConfig, target, base.Redacted())
	}
	u := *base
	u.Path = base.Path + ref.Path
	u.RawPath = ""
	u.RawQuery = ref.RawQuery
	return u.String(), nil
}
