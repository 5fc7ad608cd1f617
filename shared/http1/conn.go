package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// conn is one connection to a receiver, used by one exchange at a time.
type conn struct {
	key       hostKey
	raw       net.Conn // the TCP connection
	rw        net.Conn // raw, or TLS over it
	limit     limitedReader
	br        *bufio.Reader // reads rw through limit
	idleSince time.Time
	stop      func() bool // ends the watch of the exchange's context
}

// errHeaderTooLarge is an answer whose head exceeds MaxResponseHeaderBytes.
var errHeaderTooLarge = errors.New("http1: the answer's headers are too large")

// maxInformational bounds the 1xx answers before the answer, as net/http
// does.
const maxInformational = 5

// aLongTimeAgo is a deadline in the past: it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes head (the request's head and body) and reads the
// answer's head. The answer's body keeps the connection until it is
// closed.
func (c *conn) roundTrip(ctx context.Context, req *http.Request, head []byte, t *Transport) (*http.Response, error) {
	deadline := time.Now().Add(or(t.RequestTimeout, DefaultRequestTimeout))
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.raw.SetDeadline(deadline); err != nil {
		c.close()
		return nil, fmt.Errorf("http1: %w", err)
	}
	c.stop = nil
	if ctx.Done() != nil {
		c.stop = context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(aLongTimeAgo) })
	}
	if err := ctx.Err(); err != nil { // ended while we dialled: send nothing
		c.release(t, false)
		return nil, c.ioError(ctx, "sending the request", err)
	}
	if _, err := c.rw.Write(head); err != nil {
		c.release(t, false)
		return nil, c.ioError(ctx, "writing the request", err)
	}
	for informational := 0; ; informational++ {
		c.limit.n = int64(or(t.MaxResponseHeaderBytes, DefaultMaxResponseHeaderBytes))
		resp, err := http.ReadResponse(c.br, req)
		c.limit.n = -1
		if err != nil {
			c.release(t, false)
			if errors.Is(err, errHeaderTooLarge) {
				return nil, fmt.Errorf("%w (more than %d bytes)", errHeaderTooLarge, or(t.MaxResponseHeaderBytes, DefaultMaxResponseHeaderBytes))
			}
			return nil, c.ioError(ctx, "reading the answer", err)
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			c.release(t, false)
			return nil, errors.New("http1: the receiver switched protocols, which was not asked for")
		case resp.StatusCode < 200 && informational == maxInformational:
			c.release(t, false)
			return nil, fmt.Errorf("http1: more than %d informational (1xx) answers", maxInformational)
		case resp.StatusCode < 200:
			continue // 100 Continue, 103 Early Hints: the answer follows
		}
		resp.Body = &body{c: c, t: t, rc: resp.Body, keep: !resp.Close && !req.Close}
		return resp, nil
	}
}

// ioError describes a failed read or write: the context's error when it
// ended the exchange.
func (c *conn) ioError(ctx context.Context, what string, err error) error {
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) {
		ctxErr = context.DeadlineExceeded // the connection's deadline, a hair before the context's
	}
	if ctxErr != nil {
		return fmt.Errorf("http1: %s to %s: %w", what, c.key.addr, ctxErr)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("http1: %s to %s: %w", what, c.key.addr, err)
}

// release ends an exchange: the connection goes back to the pool when
// keep says it can and the context did not interrupt it, else it is
// closed.
func (c *conn) release(t *Transport, keep bool) {
	if c.stop != nil && !c.stop() {
		keep = false // the context ended: the deadline is in the past
	}
	c.stop = nil
	if keep && c.raw.SetDeadline(time.Time{}) == nil {
		t.put(c)
		return
	}
	c.close()
}

// alive reports whether c can carry a request: nothing is left unread from
// the last answer, and the receiver has neither closed it nor sent
// anything since.
func (c *conn) alive() bool {
	return c.br.Buffered() == 0 && peekAlive(c.raw) && (!c.key.tls || c.tlsEmpty())
}

// tlsEmpty reports whether the TLS layer holds no bytes the socket already
// gave it (a record that came with the last answer's). With a deadline in
// the past, reading fails at once, without a system call, unless there is
// something buffered to read.
func (c *conn) tlsEmpty() bool {
	if c.raw.SetReadDeadline(aLongTimeAgo) != nil {
		return false
	}
	_, err := c.br.Peek(1)
	return errors.Is(err, os.ErrDeadlineExceeded) && c.raw.SetReadDeadline(time.Time{}) == nil
}

func (c *conn) close() { _ = c.rw.Close() }

// body is an answer's body; closing it ends the exchange.
type body struct {
	c      *conn
	t      *Transport
	rc     io.ReadCloser
	keep   bool // neither side asked to close the connection
	eof    bool
	failed bool
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("http1: read on a closed answer body")
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.failed = true
	}
	return n, err
}

// Close reads what is left of a short body, so that the connection can
// carry the next request, and ends the exchange.
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if !b.eof && !b.failed {
		_, err := io.CopyN(io.Discard, b.rc, maxDrain+1)
		b.eof = errors.Is(err, io.EOF)
	}
	b.c.release(b.t, b.keep && b.eof && !b.failed)
	return nil
}

// limitedReader reads from r at most n bytes while n >= 0 and then fails
// with errHeaderTooLarge; with n < 0 it has no limit.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
