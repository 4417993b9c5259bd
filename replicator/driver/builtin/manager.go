package builtin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topics"
)

// ResourceConfig is one builtin resource (config.Resource, as the agent
// passes it).
type ResourceConfig struct {
	Name        string
	Primary     string // node name, primary at the first epoch
	Mirror      string
	Topics      []string
	AcksMirror  bool
	AcksTimeout time.Duration
	// Leased: the failover supervisor fences this resource; its primary
	// writes only under the lease it sets (SetLease), none at start.
	Leased bool
}

// Config configures a Manager; zero values take the defaults noted.
type Config struct {
	Self      string // this node's name
	Resources []ResourceConfig
	Store     *topics.Store
	States    *resource.Store
	Dialer    Dialer
	Log       *slog.Logger
	Now       func() time.Time // time.Now
	// ViewEvery is how often each node of a resource tells the other its
	// view (epoch, primary, role); 1s.
	ViewEvery time.Duration
	// MaxMessage is the largest stream message; fetches are sized below
	// it. mirror.DefaultMaxMessage.
	MaxMessage int
	// FetchBytes is what a mirror asks for per fetch; 4 MiB (fewer
	// round trips and fsyncs per MB: the mirror is latency-bound).
	FetchBytes uint32
	// MaxWait is the primary's long-poll at its log end; 200ms.
	MaxWait time.Duration
	// RequestTimeout bounds one fetch or control exchange; 2s.
	RequestTimeout time.Duration
	// StartCheck is how long a primary waits at start for the other
	// node's view before it takes writes without it; 3s.
	StartCheck time.Duration
}

// Manager runs this node's builtin resources. Create it with New (which
// sets every topic's gate before returning, so nothing is writable that
// should not be), then Run; serve peers' streams with ServeStream.
type Manager struct {
	cfg     Config
	res     map[string]*res // fixed after New
	names   []string
	byTopic map[string]*res // grows with add-topic; guarded by mu
	mu      sync.RWMutex
	srv     *mirror.Server
	pools   map[string]*pool // by node name, fixed after New
	wg      sync.WaitGroup   // stream servers
	// life ends when Run returns: it ends the streams served too.
	life context.Context
	end  context.CancelFunc
}

// New loads every resource's state, creates its topics and sets their
// gates. Resources of which this node is neither primary nor mirror are
// skipped.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.States == nil || cfg.Dialer == nil || cfg.Self == "" {
		return nil, errors.New("builtin: config needs Self, Store, States and Dialer")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ViewEvery <= 0 {
		cfg.ViewEvery = time.Second
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = mirror.DefaultMaxMessage
	}
	if cfg.FetchBytes == 0 {
		cfg.FetchBytes = 4 << 20
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = mirror.DefaultMaxWait
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 2 * time.Second
	}
	if cfg.StartCheck <= 0 {
		cfg.StartCheck = 3 * time.Second
	}
	m := &Manager{cfg: cfg, res: map[string]*res{}, byTopic: map[string]*res{}, pools: map[string]*pool{}}
	m.life, m.end = context.WithCancel(context.Background())
	m.srv = mirror.NewServer(m.servedLog, mirror.ServerOptions{MaxWait: cfg.MaxWait, MaxBytes: uint32(cfg.MaxMessage / 2)})
	for _, rc := range cfg.Resources {
		if rc.Primary != cfg.Self && rc.Mirror != cfg.Self {
			continue
		}
		peer := rc.Mirror
		if peer == cfg.Self {
			peer = rc.Primary
		}
		if m.pools[peer] == nil {
			m.pools[peer] = &pool{dial: cfg.Dialer, node: peer}
		}
		r, err := newRes(m, rc, peer)
		if err != nil {
			return nil, err
		}
		m.res[rc.Name] = r
		m.names = append(m.names, rc.Name)
	}
	slices.Sort(m.names)
	return m, nil
}

// Run runs every resource (views, mirroring) until ctx ends, then closes
// the streams it holds and returns when its goroutines have stopped.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range m.names {
		r := m.res[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx)
		}()
	}
	wg.Wait()
	for _, p := range m.pools {
		p.close()
	}
	m.mu.Lock()
	m.end()
	m.mu.Unlock()
	m.wg.Wait()
}

// resource returns the resource named name.
func (m *Manager) resource(name string) (*res, error) {
	r, ok := m.res[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (resources of this node: %v)", ErrUnknownResource, name, m.names)
	}
	return r, nil
}

// ErrUnknownResource: no builtin resource of that name on this node.
var ErrUnknownResource = errors.New("no such resource on this node")

func (m *Manager) topicRes(topic string) *res {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.byTopic[topic]
}

func (m *Manager) addTopic(topic string, r *res) {
	m.mu.Lock()
	m.byTopic[topic] = r
	m.mu.Unlock()
}

// servedLog is the mirror server's lookup: a topic's log, only where this
// node is its resource's primary (frozen for a promote included: the
// final sync needs it).
func (m *Manager) servedLog(topic string) (*logstore.Log, mirror.ErrorCode) {
	r := m.topicRes(topic)
	if r == nil {
		return nil, mirror.ErrUnknownTopic
	}
	if !r.serves() {
		return nil, mirror.ErrNotPrimary
	}
	l, err := m.cfg.Store.Log(topic)
	if err != nil {
		return nil, mirror.ErrUnknownTopic
	}
	return l, mirror.ErrNone
}

// ServeStream answers one peer's requests on s until it fails or ctx
// ends; peer is the node name the stream authenticated. It owns s.
func (m *Manager) ServeStream(ctx context.Context, peer string, s Stream) {
	defer s.Close()
	m.mu.Lock()
	if m.life.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.wg.Add(1) // under mu: Run's Wait cannot have begun
	m.mu.Unlock()
	defer m.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopLife := context.AfterFunc(m.life, cancel)
	defer stopLife()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for ctx.Err() == nil {
		msg, err := s.Recv()
		if err != nil {
			return
		}
		out, err := m.answer(ctx, peer, msg)
		if err != nil {
			m.cfg.Log.Warn("bad request on a mirror stream", "event", EvStreamError, "peer", peer, "err", err)
			return
		}
		if err := s.Send(out); err != nil {
			return
		}
	}
}

func (m *Manager) answer(ctx context.Context, peer string, msg []byte) ([]byte, error) {
	if len(msg) == 0 {
		return nil, errors.New("empty message")
	}
	if msg[0] == kindControl {
		var req request
		if err := decodeControl(msg, &req); err != nil {
			return nil, err
		}
		if err := checkRequest(&req); err != nil {
			return nil, fmt.Errorf("control from %s: %w", peer, err)
		}
		if req.From != peer {
			return nil, fmt.Errorf("control from %s claims to be from %s", peer, req.From)
		}
		return encodeControl(m.control(ctx, req))
	}
	req, err := mirror.DecodeFetchRequest(msg)
	if err != nil {
		return nil, err
	}
	r := m.topicRes(req.Topic)
	if r != nil && peer == r.peer && r.serves() {
		// The mirror syncs what it appended before it asks again: all
		// below its fetch offset is durable there.
		r.acks.advance(req.Topic, req.FetchOffset)
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	resp := m.srv.Answer(rctx, req)
	if resp.Error == mirror.ErrNone && resp.Diverging == nil {
		resp.GroupOffsets = m.cfg.Store.GroupOffsets(req.Topic)
	}
	return resp.Encode()
}

func (m *Manager) control(ctx context.Context, req request) reply {
	r, ok := m.res[req.Resource]
	if !ok || req.From != r.peer {
		return reply{Error: fmt.Sprintf("node %s has no resource %q shared with %s", m.cfg.Self, req.Resource, req.From)}
	}
	return r.control(ctx, req)
}
