package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/httpapi/client"
)

func newStatusCmd(g *globals) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster at a glance; exits 1 when there is no leader",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			st, err := statusWithin(cmd.Context(), c, wait)
			if err != nil {
				return explain(c, err)
			}
			// The leader knows every follower's last contact; ask it when the
			// first node is a follower.
			if st.LeaderURL != "" && st.LeaderID != st.NodeID {
				if lc, err := c.With(st.LeaderURL); err == nil {
					if lst, err := lc.ClusterStatus(cmd.Context()); err == nil {
						st.Servers = lst.Servers
					}
				}
			}
			if g.output == "json" || g.output == "yaml" {
				if err := printStructured(g, st); err != nil {
					return err
				}
			} else {
				printStatus(g, st)
			}
			if st.LeaderID == "" {
				return errors.New("the cluster has no leader")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the node to answer and know a leader (for scripts that start agents)")
	return cmd
}

// statusWithin asks for the cluster status, again every 200 ms until the
// node answers with a known leader or wait has passed; the last answer (or
// error) is returned either way.
func statusWithin(ctx context.Context, c *client.Client, wait time.Duration) (*client.ClusterStatus, error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := c.ClusterStatus(ctx)
		if (err == nil && st.LeaderID != "") || !time.Now().Before(deadline) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printStatus(g *globals, st *client.ClusterStatus) {
	leader := st.LeaderID
	if leader == "" {
		leader = "none"
	} else {
		leader += " (" + st.LeaderURL + ")"
	}
	answered := cell(st.Role)
	if st.Role == "client" {
		answered += ", streaming from " + dash(st.Upstream)
	}
	fmt.Fprintf(g.out, "Leader:   %s\nAnswered: %s (%s)\nTerm:     %d\nIndexes:  commit %d, applied %d, last log %d\nVoters:   %d of %d wanted\n",
		leader, st.NodeID, answered, st.Term, st.CommitIndex, st.AppliedIndex, st.LastLogIndex, st.Voters, st.TargetVoters)
	fmt.Fprintf(g.out, "Servers:  %d of %d wanted; %d client agents\n", len(st.Servers), st.TargetServers, len(st.Clients))
	ft := st.FaultTolerance
	fmt.Fprintf(g.out, "Fault tolerance: %d of %d wanted (%d of %d voters healthy, quorum %d)\n",
		ft.Tolerance, ft.Wanted, ft.HealthyVoters, ft.Voters, ft.Quorum)
	if ft.Degraded {
		fmt.Fprintln(g.out, "DEGRADED:")
		for _, r := range ft.Reasons {
			fmt.Fprintln(g.out, "  - "+r)
		}
	}
	if h := st.Health; h != nil {
		sp := "off"
		if h.SelfPreservation {
			sp = "ON: automatic deregistration paused"
		}
		fmt.Fprintf(g.out, "Health:   this node checks %d of %d instances; %d Unhealthy; self-preservation %s (at %.0f%%)\n",
			h.Checking, h.Instances, h.Unhealthy, sp, h.SelfPreservationThreshold*100)
	}
	if a := st.DiskAlarm; a != nil {
		fmt.Fprintf(g.out, "ALARM:    disk full since %s: %s; writes through this node's leadership are refused (507 disk_full)\n",
			a.Since.Format(time.RFC3339), cell(a.Reason))
	}
	if u := st.Catalog; u != nil {
		fmt.Fprintf(g.out, "Catalog:  %d instances (quota %s), %d definitions, %d tokens; %.1f MB (quota %s)\n",
			u.Instances, bound(int64(u.Quota.MaxInstances), 1), u.Definitions, u.Tokens, float64(u.Bytes)/1e6, bound(u.Quota.MaxBytes, 1e6))
	}
	if b := st.Bootstrap; b.State == "waiting" || b.State == "refused" || b.State == "joining" && st.Role != "client" {
		fmt.Fprintf(g.out, "Bootstrap: %s (expect %d): %s\n", b.State, b.Expect, b.Reason)
	}
	fmt.Fprintln(g.out)
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RAFT SERVER\tROLE\tADDRESS\tURL\tAZ\tGOSSIP\tLAST CONTACT")
	for _, s := range st.Servers {
		role := s.Suffrage
		if s.Leader {
			role = "leader"
		}
		lc := "unknown"
		if s.LastContactMs >= 0 {
			lc = (time.Duration(s.LastContactMs) * time.Millisecond).String()
			if s.LastContactMs == 0 {
				lc = "now"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, role, s.Address, dash(s.URL), dash(s.AZ), dash(s.Gossip), lc)
	}
	w.Flush()
	fmt.Fprintln(g.out)
	w = tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tSTATE\tROLE\tGOSSIP ADDRESS\tURL\tREGION\tAZ\tSINCE")
	roles := memberRoles(st)
	for _, m := range st.Members {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.State, roles[m.ID], m.Addr, m.URL, dash(m.Region), dash(m.AZ), ago(m.Since))
	}
	w.Flush()
}

// dash is a table cell: "-" for nothing, control characters escaped.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return cell(s)
}

// ago renders a time as the seed's CLI does: "8s ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	if d < 0 {
		d = 0
	}
	return d.Truncate(time.Second).String() + " ago"
}

func newLeaveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "leave",
		Short: "Make the node at --addr leave the cluster for good and stop",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Leave(cmd.Context()); err != nil {
				return explain(c, err)
			}
			fmt.Fprintf(g.out, "Node at %s is leaving the cluster.\n", c.Base())
			return nil
		},
	}
}

// bound prints a quota figure (in units of unit), "none" for 0.
func bound(v int64, unit float64) string {
	if v == 0 {
		return "none"
	}
	if unit == 1 {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%.0f MB", float64(v)/unit)
}

// memberRoles is each member's role: the server's suffrage (or leader), or
// "client←SERVER" for a client agent and the server it streams from.
func memberRoles(st *client.ClusterStatus) map[string]string {
	out := map[string]string{}
	for _, s := range st.Servers {
		out[s.ID] = s.Suffrage
		if s.Leader {
			out[s.ID] = "leader"
		}
	}
	for _, c := range st.Clients {
		out[c.ID] = "client"
		if c.Upstream != "" {
			out[c.ID] = "client←" + cell(c.Upstream)
		}
	}
	return out
}
