package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWebSocketUpgradePassesThrough: an Upgrade request reaches the API with the token on
// its handshake, the 101 comes back, and bytes then flow both ways.
func TestWebSocketUpgradePassesThrough(t *testing.T) {
	var sawUpgrade atomic.Value
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawUpgrade.Store(r.Header.Get("Upgrade") + "|" + r.Header.Get("Connection") + "|" + r.Header.Get("Authorization"))
		if r.Header.Get("Upgrade") != "websocket" {
			_, _ = io.WriteString(w, "plain")
			return
		}
		conn, brw := switchToWebSocket(t, w)
		if conn == nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo:" + line)
		_ = brw.Flush()
	}), "")
	c, err := net.Dial("tcp", strings.TrimPrefix(b.server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /v1/connections/conn/proxy/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("answer %d %v, want 101 with Upgrade: websocket", resp.StatusCode, resp.Header)
	}
	if sawUpgrade.Load() != "websocket|Upgrade|Bearer tok-one" {
		t.Fatalf("the API saw Upgrade|Connection|Authorization = %q", sawUpgrade.Load())
	}
	_, _ = io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo:hello\n" {
		t.Fatalf("after the 101 the API echoed %q", line)
	}
	_ = c.Close()
	if rec := b.rec.nth(t, 1); rec.UpstreamStatus != http.StatusSwitchingProtocols || rec.Path != "/ws" {
		t.Fatalf("audit record %+v", rec)
	}
}

// switchToWebSocket is an upstream's side of a WebSocket handshake: it takes the connection
// over and answers 101 (nil when the connection cannot be taken, an error of t).
func switchToWebSocket(t *testing.T, w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	_ = brw.Flush()
	return conn, brw
}
