package postgresql

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// endpoint is one host:port a conninfo may connect to; pg_stat_wal_receiver
// reports the one a replica streams from (sender_host, sender_port).
type endpoint struct {
	host string
	port uint16
}

func (e endpoint) String() string {
	return e.host + ":" + strconv.Itoa(int(e.port))
}

// endpoints lists the hosts a conninfo names (nil when it does not parse).
// sslmode=prefer makes pgconn list each host twice: deduplicated.
func endpoints(conninfo string) []endpoint {
	cfg, err := pgconn.ParseConfig(conninfo)
	if err != nil {
		return nil
	}
	var out []endpoint
	add := func(host string, port uint16) {
		e := endpoint{host, port}
		for _, have := range out {
			if have == e {
				return
			}
		}
		out = append(out, e)
	}
	add(cfg.Host, cfg.Port)
	for _, f := range cfg.Fallbacks {
		add(f.Host, f.Port)
	}
	return out
}

var (
	pwQuoted = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)'(?:[^'\\]|\\.|'')*'`)
	pwPlain  = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)[^\s']\S*`)
)

// redactConninfo hides passwords in a conninfo shown in errors and
// commands (an operator supplies it from a .pgpass instead).
func redactConninfo(s string) string {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return "<unparsable URI>"
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	s = pwQuoted.ReplaceAllString(s, "${1}xxxxx")
	return pwPlain.ReplaceAllString(s, "${1}xxxxx")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteGUC quotes a value for postgresql.auto.conf the way ALTER SYSTEM
// does.
func quoteGUC(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}
