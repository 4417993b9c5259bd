package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/agent/status/render"
	"github.com/tether-ha/tether/replicator/history"
)

const failoverUsage = `Usage: tetherctl failover status [--json] [--socket PATH]

Shows, for every resource of the cluster, what the local tetherd's failover
supervisor sees: this node's copy, the epoch and primary, whether a quorum
is possible (a two-node cluster needs a witness: a third tetherd or quorum.etcd) and held, whether this
primary is fenced, and the mirror's last decision with its reason.

Exit status: 0 shown; 1 a resource needs attention (no quorum possible
with automatic failover on, a fenced primary, or an alerting decision);
2 usage error or the agent cannot be reached.
`

const historyUsage = `Usage: tetherctl history [--json] [--resource NAME] [--last N] [--socket PATH]

Prints the failover decision history of this node, oldest first: every
decision taken or refused, with who decided and why, the epochs before and
after, the lag given up, the quorum and witness answers, the fence result
and (with --json) the link table at that moment.
`

func runFailover(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, failoverUsage)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	if args[0] != "status" {
		return usageErr(e.stderr, "failover", fmt.Sprintf("unknown failover command %q (commands: status); to fail over by hand: tetherctl mirror failover", args[0]))
	}
	fs := newFlagSet("failover status")
	asJSON := fs.Bool("json", false, "")
	socket := fs.String("socket", "", "")
	words, err := parseInterleaved(fs, args[1:])
	if err != nil || len(words) > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", words[0])
		}
		return usageErr(e.stderr, "failover", err.Error())
	}
	st, err := status.NewClient(e.socketPath(*socket)).Status(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st.Failover)
	} else {
		printFailover(e, st.Failover)
	}
	for _, f := range st.Failover {
		if (f.Auto && !f.QuorumPossible) || f.Fenced || f.Alert {
			return exitFailed
		}
	}
	return exitOK
}

func printFailover(e *env, fs []status.Failover) {
	if len(fs) == 0 {
		fmt.Fprintln(e.stdout, "no resources")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tCOPY\tEPOCH\tPRIMARY\tAUTO\tQUORUM\tVOTES\tSTATE\tDETAIL")
	for _, f := range fs {
		auto, q, state := render.FailoverCells(f)
		detail := f.Detail
		if f.Error != "" {
			detail = "error: " + f.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", f.Resource, f.Role, f.Epoch, f.Primary, auto, q, f.Votes, f.Voters, state, detail)
	}
	tw.Flush()
}

func runHistory(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("history")
	asJSON := fs.Bool("json", false, "")
	res := fs.String("resource", "", "")
	last := fs.Int("last", 0, "")
	socket := fs.String("socket", "", "")
	help := fs.Bool("h", false, "")
	fs.BoolVar(help, "help", false, "")
	words, err := parseInterleaved(fs, args)
	if err == nil && len(words) > 0 {
		err = fmt.Errorf("unexpected argument %q", words[0])
	}
	if err == nil && *last < 0 {
		err = fmt.Errorf("--last must be positive")
	}
	if err != nil {
		return usageErr(e.stderr, "history", err.Error())
	}
	if *help {
		fmt.Fprint(e.stdout, historyUsage)
		return exitOK
	}
	h, err := status.NewClient(e.socketPath(*socket)).History(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: %v\n", err)
		return exitError
	}
	var recs []history.Record
	if err := json.Unmarshal(h.Records, &recs); err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: bad history from the agent: %v\n", err)
		return exitError
	}
	if *res != "" {
		var keep []history.Record
		for _, r := range recs {
			if r.Resource == *res {
				keep = append(keep, r)
			}
		}
		recs = keep
	}
	if *last > 0 && len(recs) > *last {
		recs = recs[len(recs)-*last:]
	}
	if h.Skipped > 0 {
		fmt.Fprintf(e.stderr, "tetherctl: %d torn or unreadable history lines were skipped\n", h.Skipped)
	}
	if *asJSON {
		if recs == nil {
			recs = []history.Record{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(recs)
		return exitOK
	}
	if len(recs) == 0 {
		fmt.Fprintln(e.stdout, "no decisions recorded")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRESOURCE\tNODE\tACTION\tREASON\tEPOCH\tVOTES\tLAG\tDETAIL")
	for _, r := range recs {
		epoch := fmt.Sprint(r.EpochAfter)
		if r.EpochBefore != r.EpochAfter {
			epoch = fmt.Sprintf("%d->%d", r.EpochBefore, r.EpochAfter)
		}
		detail := r.Detail
		for _, extra := range []string{r.Witness, r.Fence} {
			if extra != "" {
				detail += "; " + extra
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", r.Time.Local().Format(time.DateTime+".000"), r.Resource, r.Node,
			r.Action, r.Reason, epoch, r.Votes, r.Voters, r.LagGivenUp, strings.TrimPrefix(detail, "; "))
	}
	tw.Flush()
	return exitOK
}
