package authorize

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// callbackServer is the loopback HTTP server that receives the redirect.
type callbackServer struct {
	port      int
	listeners []net.Listener
	http      *http.Server
	requests  chan callbackRequest
	done      chan struct{}
}

type callbackRequest struct {
	query url.Values
	reply chan page
}

// listen binds 127.0.0.1:port and, when the host has IPv6 loopback, [::1]:port: browsers
// resolve localhost to either.
func listen(port int) (*callbackServer, error) {
	s := &callbackServer{port: port, requests: make(chan callbackRequest), done: make(chan struct{})}
	addr4 := fmt.Sprintf("127.0.0.1:%d", port)
	l4, err := net.Listen("tcp4", addr4)
	if err != nil {
		return nil, listenError(port, addr4, err)
	}
	s.listeners = append(s.listeners, l4)
	addr6 := fmt.Sprintf("[::1]:%d", port)
	if l6, err := net.Listen("tcp6", addr6); err == nil {
		s.listeners = append(s.listeners, l6)
	} else if errors.Is(err, syscall.EADDRINUSE) {
		l4.Close()
		return nil, listenError(port, addr6, err)
	} // else: no IPv6 loopback on this host; 127.0.0.1 is enough.
	// Exact path match, no http.ServeMux: the mux answers unclean paths (//callback,
	// /./callback) with a redirect that repeats the query, that is the code and the state.
	route := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != CallbackPath {
			http.Error(w, "tokend authorize: this server answers only "+CallbackPath, http.StatusNotFound)
			return
		}
		s.handle(w, r)
	}
	s.http = &http.Server{Handler: http.HandlerFunc(route), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

func listenError(port int, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &PortInUseError{Port: port, Addr: addr, Err: err}
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: permission denied: pass --port with a port above 1023, e.g. --port %d, and register %s at the provider", addr, DefaultPort, RedirectURI(DefaultPort))
	}
	return fmt.Errorf("cannot start the callback server on %s: %w; pass --port with another port", addr, err)
}

func (s *callbackServer) serve() {
	for _, l := range s.listeners {
		go s.http.Serve(l) //nolint:errcheck // ends with ErrServerClosed
	}
}

// close stops accepting callbacks and gives the last page a moment to reach the browser.
func (s *callbackServer) close() {
	close(s.done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.http != nil {
		_ = s.http.Shutdown(ctx)
	}
	for _, l := range s.listeners {
		l.Close()
	}
}

func (s *callbackServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.loopbackHost(r.Host) {
		// A page of another site reaching this port by DNS rebinding: ignore it, so it
		// cannot end the attempt with a forged callback.
		http.Error(w, "tokend authorize: this server answers only for localhost", http.StatusMisdirectedRequest)
		return
	}
	req := callbackRequest{query: r.URL.Query(), reply: make(chan page, 1)}
	select {
	case s.requests <- req:
	case <-s.done:
		writePage(w, page{status: http.StatusGone, title: "Already finished", message: "This authorization attempt has already finished; see the terminal where tokend runs."})
		return
	case <-r.Context().Done():
		return
	}
	select {
	case p := <-req.reply:
		writePage(w, p)
	case <-r.Context().Done():
	}
}

// loopbackHost reports whether the Host header names this server on a loopback name.
func (s *callbackServer) loopbackHost(host string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil || p != strconv.Itoa(s.port) {
		return false
	}
	return authconn.IsLoopbackHost(h)
}
