package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/replicator/quorum/etcd"
)

// openQuorum makes the quorum.etcd voter (nil without one). It connects
// lazily: etcd down at start is one vote missing, reported in the
// failover status, not an agent that cannot start.
func openQuorum(cfg *config.Config, log *slog.Logger) (*etcd.Voter, error) {
	e := cfg.Quorum.Etcd
	if e == nil {
		return nil, nil
	}
	ec := etcd.Config{Endpoints: e.Endpoints, Prefix: e.Prefix, TTL: e.TTL, DialTimeout: e.DialTimeout,
		Self: cfg.Node.Name, SelfID: cfg.Node.ID, Nodes: map[string]uint16{}, Log: log}
	for _, n := range cfg.Nodes {
		ec.Nodes[n.Name] = n.ID
	}
	if e.CAFile != "" || e.CertFile != "" {
		t, err := etcdTLS(e)
		if err != nil {
			return nil, err
		}
		ec.TLS = t
	}
	return etcd.New(ec)
}

func etcdTLS(e *config.EtcdQuorum) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("quorum.etcd.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("quorum.etcd.ca_file: " + e.CAFile + " holds no PEM certificate")
		}
	}
	if e.CertFile != "" {
		c, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("quorum.etcd: cert_file and key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{c}
	}
	return t, nil
}
