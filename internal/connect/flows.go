package connect

import (
	"context"
	"errors"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
)

// Bounds of the flows one connect link may have in progress on a replica.
const (
	// MaxFlowsPerLink is how many live pending authorizations one link may have.
	MaxFlowsPerLink = 3
	// ReuseFlowFor is how long a flow begun for a link is handed out again to the next
	// POST of the same link, instead of writing a new pending record (and resolving the
	// provider again).
	ReuseFlowFor = time.Minute
	// maxTrackedLinks bounds the links whose flows are remembered.
	maxTrackedLinks = 4096
)

// ErrTooManyFlows is returned when a link has MaxFlowsPerLink authorizations in progress,
// none young enough to hand out again.
var ErrTooManyFlows = errors.New("this connect link has too many authorizations in progress: finish one in the window it opened, or try again in a few minutes")

// flow is an authorization begun for a link: its provider URL and when it began.
type flow struct {
	url string
	at  time.Time
}

// linkFlows remembers the flows begun for each link on this replica, so that a link
// POSTed again and again writes at most MaxFlowsPerLink pending records per pending TTL
// (the review's finding 6: one per POST before).
type linkFlows struct {
	ttl   time.Duration // a flow's lifetime (the pending TTL)
	group singleflight.Group
	mu    sync.Mutex
	links *lru.Cache[string, []flow]
}

func newLinkFlows(ttl time.Duration) *linkFlows {
	c, _ := lru.New[string, []flow](maxTrackedLinks)
	return &linkFlows{ttl: ttl, links: c}
}

// begin returns the authorization URL for link l: a flow of l younger than ReuseFlowFor,
// or a new one from start when l has fewer than MaxFlowsPerLink live flows.
// Concurrent calls for one link share one start.
func (lf *linkFlows) begin(ctx context.Context, l *authconn.ConnectLink, start func(context.Context) (string, error)) (string, error) {
	if u, err := lf.pick(l.ID, time.Now()); u != "" || err != nil {
		return u, err
	}
	v, err, _ := lf.group.Do(l.ID, func() (any, error) {
		if u, err := lf.pick(l.ID, time.Now()); u != "" || err != nil {
			return u, err
		}
		u, err := start(ctx)
		if err != nil {
			return "", err
		}
		lf.mu.Lock()
		defer lf.mu.Unlock()
		fl, _ := lf.links.Get(l.ID)
		lf.links.Add(l.ID, append(live(fl, time.Now(), lf.ttl), flow{url: u, at: time.Now()}))
		return u, nil
	})
	u, _ := v.(string)
	return u, err
}

// pick returns the newest young flow of link id, ErrTooManyFlows when it has the most live
// flows and none is young, or "" when a new flow may begin.
func (lf *linkFlows) pick(id string, now time.Time) (string, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	fl, ok := lf.links.Get(id)
	if !ok {
		return "", nil
	}
	fl = live(fl, now, lf.ttl)
	lf.links.Add(id, fl)
	if n := len(fl); n > 0 && now.Sub(fl[n-1].at) < ReuseFlowFor {
		return fl[n-1].url, nil
	}
	if len(fl) >= MaxFlowsPerLink {
		return "", ErrTooManyFlows
	}
	return "", nil
}

// forget drops the flows of link id (one of them reached its callback).
func (lf *linkFlows) forget(id string) {
	if id != "" {
		lf.links.Remove(id)
	}
}

// live returns the flows of fl that have not expired at now, oldest first.
func live(fl []flow, now time.Time, ttl time.Duration) []flow {
	out := fl[:0:0]
	for _, f := range fl {
		if now.Sub(f.at) < ttl {
			out = append(out, f)
		}
	}
	return out
}

// pendingTTL is the lifetime of a hosted flow of s.
func (s *Service) pendingTTL() time.Duration {
	if s.o.PendingTTL > 0 {
		return s.o.PendingTTL
	}
	return authorize.DefaultPendingTTL
}
