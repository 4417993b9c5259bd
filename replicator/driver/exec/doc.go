// Package exec is the exec-hooks driver: it runs an operator's programs,
// hooks, to read and steer this node's copy of a back end tether has no
// driver for (DRBD, for one; contrib/examples/exec-drbd has hooks for it).
// Like every driver.Driver it acts on the local back end only; which node
// is primary is the supervisor's decision, not the hooks'.
//
// # Hooks
//
// There is one hook per driver method: status, promote, fence, unfence
// and follow, all required. Each is an argv run without a shell; argv[0]
// is an absolute path to an executable file.
//
//	status   print the local back end's state (below); exit 0 whenever it
//	         could tell, "down" included.
//	promote  make the local copy a writable primary now, whatever its lag
//	         (the supervisor has decided); lift a fence of ours too.
//	fence    make the local copy refuse writes, keeping its data and its
//	         role, until unfence, promote or follow.
//	unfence  lift fence (quorum is back and nobody promoted).
//	follow   make the local copy a read-only replica of $TETHER_PRIMARY.
//
// Every hook must be idempotent: the supervisor retries after errors and
// after restarts, so promote on a primary, fence on a fenced copy and
// follow on a replica already following that node must exit 0.
//
// # Environment
//
// A hook gets the agent's environment minus every TETHER_* variable, then
// Config.Env, then:
//
//	TETHER_RESOURCE  the resource's name
//	TETHER_NODE      this node's name (Config.Self)
//	TETHER_ACTION    status, promote, fence, unfence or follow
//	TETHER_PRIMARY   follow only: the node to follow
//	TETHER_REASON    fence only: why, for logs
//
// stdin is /dev/null; the working directory is Config.Dir, or the
// agent's.
//
// # Running
//
// Each run gets its own process group. It is bounded by Config.Timeout
// (default 10s) and by the caller's context: when either ends, the whole
// group gets SIGKILL and the hook is reaped before the method returns
// ("hook fence timed out after 10s"). When the hook exits, whatever it left
// in its group gets SIGKILL too, so nothing outlives a run: a hook that
// must leave a process running detaches it (setsid, systemd-run). One
// driver runs one hook at a time, so hooks need no locking of their own.
//
// The first 64 KiB of stdout and the last 64 KiB of stderr are kept, the
// rest counted and dropped. stderr is for people: its last lines go into
// the driver's errors.
//
// # Exit codes
//
//	0      done
//	3      follow only: diverged, cannot follow safely. The last line of
//	       stderr says why, the first line of stdout is the command an
//	       operator should run (may be empty); the hook must leave the copy
//	       fenced. The driver returns a *driver.DivergedError.
//	other  failed (as is death by a signal): an error naming the hook, the
//	       code and the last lines of stderr. A failing status hook reads
//	       as role "down" with that error.
//
// # Status output
//
// The status hook prints one JSON object on stdout, and nothing else:
//
//	{"role":"replica","following":"b","link_up":true,"lag":12,
//	 "lag_at":"2024-05-01T10:00:00Z","offset":0,"detail":"UpToDate"}
//
// role is required: primary, fenced, replica or down. The others are
// optional: following (the node or address a replica follows), link_up
// (its replication link is up now), lag (how far behind, in
// Config.LagUnit, default "records"), lag_at (RFC 3339: when the replica
// last heard the primary; omitted, null or "" when unknown), offset (the
// back end's replication position, 0 if none), detail (for people).
// Decoding is strict: unknown or repeated keys, keys in another case,
// null where a value is needed, a negative or fractional number and
// anything after the object are errors.
package exec
