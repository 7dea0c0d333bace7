package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The loader's HTTP client. Each worker writes its request on a keep-alive
// HTTP/1.1 connection and reads the answer itself (parsed by the standard
// library's http.ReadResponse). net/http's client hands every request to a
// writer goroutine and every answer back from a reader goroutine: measured
// with 64 clients writing through a follower, it took 65 µs of CPU a write
// against 28 µs this way, on cores the load shares with the servers it
// measures (etcd's Go client, the peer's loader, takes ~53 µs a put).

// opTimeout bounds one request and its answer; maxAnswerHead bounds an
// answer's status line and headers, as net/http's client does (its
// default is 10 MB; a node's are under 1 KB).
const (
	opTimeout     = 30 * time.Second
	maxAnswerHead = 1 << 20
)

// rawConn is one keep-alive connection to a node.
type rawConn struct {
	c    net.Conn
	head *cappedReader
	br   *bufio.Reader
	bw   *bufio.Writer
}

// cappedReader fails a read past left bytes; left < 0: no cap.
type cappedReader struct {
	r    io.Reader
	left int64
}

var errAnswerHead = fmt.Errorf("answer's headers over %d bytes", maxAnswerHead)

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, errAnswerHead
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	if c.left > 0 {
		c.left -= int64(n)
	}
	return n, err
}

// rawClient keeps idle connections per node address.
type rawClient struct {
	tls  *tls.Config
	mu   sync.Mutex
	idle map[string][]*rawConn
}

// do sends one request (with token as its bearer token, "": none) and
// reads its answer whole; out, when set, reads the body of an answer under
// 300 first. A connection that the node closed while it sat idle (EOF
// before any answer, or a failed write) is replaced and the request sent
// again once, as net/http does.
func (h *rawClient) do(ctx context.Context, method, rawURL, token string, body []byte, out func(io.Reader) error) (int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, err
	}
	for try := 0; ; try++ {
		c, reused, err := h.get(ctx, u)
		if err != nil {
			return 0, err
		}
		code, keep, err := c.exchange(ctx, method, u, token, body, out)
		if d, ok := ctx.Deadline(); err != nil && ok && !time.Now().Before(d) {
			// The connection's deadline is the context's, and may pass
			// before the context's own timer marks it done.
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		if err == nil && keep {
			h.put(u.Host, c)
		} else {
			c.c.Close()
		}
		var stale staleConn
		if reused && try == 0 && errors.As(err, &stale) && ctx.Err() == nil {
			continue
		}
		return code, err
	}
}

func (h *rawClient) get(ctx context.Context, u *url.URL) (c *rawConn, reused bool, err error) {
	h.mu.Lock()
	if l := h.idle[u.Host]; len(l) > 0 {
		c = l[len(l)-1]
		h.idle[u.Host] = l[:len(l)-1]
		h.mu.Unlock()
		return c, true, nil
	}
	h.mu.Unlock()
	d := &net.Dialer{Timeout: 10 * time.Second}
	var nc net.Conn
	switch u.Scheme {
	case "https":
		nc, err = (&tls.Dialer{NetDialer: d, Config: h.tls}).DialContext(ctx, "tcp", u.Host)
	case "http":
		nc, err = d.DialContext(ctx, "tcp", u.Host)
	default:
		err = errors.New("scheme " + strconv.Quote(u.Scheme) + ": want http or https")
	}
	if err != nil {
		return nil, false, err
	}
	head := &cappedReader{r: nc, left: -1}
	return &rawConn{c: nc, head: head, br: bufio.NewReaderSize(head, answerBuffer), bw: bufio.NewWriterSize(nc, 4<<10)}, false, nil
}

func (h *rawClient) put(host string, c *rawConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.idle == nil {
		h.idle = map[string][]*rawConn{}
	}
	h.idle[host] = append(h.idle[host], c)
}

// closeIdle closes every idle connection.
func (h *rawClient) closeIdle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.idle {
		for _, c := range l {
			c.c.Close()
		}
	}
	h.idle = nil
}

// staleConn is a kept-alive connection that the node had closed before
// this request: nothing of it was processed.
type staleConn struct{ err error }

func (e staleConn) Error() string { return "connection closed by the node: " + e.err.Error() }
func (e staleConn) Unwrap() error { return e.err }

// exchange writes one request and reads its answer; keep says whether the
// connection may carry the next one.
func (c *rawConn) exchange(ctx context.Context, method string, u *url.URL, token string, body []byte, out func(io.Reader) error) (code int, keep bool, err error) {
	deadline := time.Now().Add(opTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	// A cancelled context (Ctrl-C) ends a wait at once.
	defer context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })()
	w := c.bw
	w.WriteString(method)
	w.WriteString(" ")
	w.WriteString(u.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(u.Host)
	w.WriteString("\r\n")
	if body != nil {
		w.WriteString("Content-Type: application/json\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
	}
	if token != "" {
		w.WriteString("Authorization: Bearer ")
		w.WriteString(token)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			err = staleConn{err}
		}
		return 0, false, err
	}
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			err = staleConn{err}
		}
		return 0, false, err
	}
	// The cap counts what is read from the connection while the headers
	// are parsed, including any of the body read ahead into the buffer.
	c.head.left = maxAnswerHead
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, &http.Request{Method: method})
		// Informational answers (103 Early Hints) come before the final
		// one: read on, as net/http's client does, or the final answer
		// would be taken for the next request's.
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	c.head.left = -1
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := out(resp.Body); err != nil {
			return resp.StatusCode, false, err
		}
	}
	buf := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(buf)
	if _, err := io.CopyBuffer(discard{}, resp.Body, *buf); err != nil {
		return resp.StatusCode, false, err
	}
	// A 101 switched the connection to another protocol: never reused.
	return resp.StatusCode, !resp.Close && resp.StatusCode >= 200, nil
}
