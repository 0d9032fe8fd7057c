package awsemu

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ClientConfig returns an AWS SDK configuration for the emulator at url,
// signed with the bootstrap key, good for every service the emulator serves
// (secretsmanager.NewFromConfig, iam.NewFromConfig, sts.NewFromConfig). Its
// HTTPClient is HTTPClient(nil).
func ClientConfig(url string) aws.Config {
	return aws.Config{
		Region:       DefaultRegion,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(DefaultAccessKeyID, DefaultSecretAccessKey, ""),
		HTTPClient:   HTTPClient(nil),
	}
}

// FunctionEnv returns the environment a Lambda bootstrap needs to run
// against the emulator at url as the bootstrap key: AWS_ENDPOINT_URL covers
// Secrets Manager, IAM and STS alike.
func FunctionEnv(url string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + url,
		"AWS_ACCESS_KEY_ID=" + DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + DefaultSecretAccessKey,
		"AWS_REGION=" + DefaultRegion,
	}
}

// HTTPClient returns next (a new SDK BuildableClient when nil) with every
// request body of known length sent from the client's own in-memory copy.
//
// Without it an SDK client can fail a request that the server answered
// correctly, and a fast local server makes that likely. net/http's
// Transport writes the headers, then copies the body straight to the
// connection, and then reads the body once more to check that nothing is
// left over. A server that answers as soon as it has the body (as the
// emulator does) can be answered before that last read: the SDK then closes
// the request body, which (smithy-go's safe reader) makes the last read
// report io.EOF as an error; the Transport treats it as a failed write and
// closes the connection while the SDK is still reading the response, so the
// attempt fails with "deserialization failed, ... use of closed network
// connection" and is retried, or the call fails once every attempt lost the
// race. A body the Transport reads from its own bytes.Reader never sees the
// SDK's close, and with a known in-memory body the Transport sends headers
// and body together. Streaming bodies (unknown length) pass through as they
// are.
func HTTPClient(next aws.HTTPClient) aws.HTTPClient {
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	return ownBodyClient{next: next}
}

// ownBodyClient is HTTPClient's client.
type ownBodyClient struct{ next aws.HTTPClient }

var _ aws.HTTPClient = ownBodyClient{}

// Do implements aws.HTTPClient.
func (c ownBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength <= 0 {
		return c.next.Do(r)
	}
	// One byte past the declared length lets the Transport report a body
	// longer than its Content-Length, as it would have.
	b, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength+1))
	if cerr := r.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	own := r.WithContext(r.Context()) // a shallow copy: the caller's request keeps its body
	own.Body = io.NopCloser(bytes.NewReader(b))
	own.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return c.next.Do(own)
}
