package fsm

import (
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func registerLogs(b *testing.B, n int) []*raft.Log { return registerLogsAs(b, n, NewestFormat) }

func registerLogsAs(b *testing.B, n int, f Format) []*raft.Log {
	logs := make([]*raft.Log, n)
	for i := range logs {
		in := Instance{URL: fmt.Sprintf("http://host-%d:8080", i), Slug: fmt.Sprintf("svc-%d", i%100), Tags: []string{"t"}}
		if err := NormalizeInstance(&in); err != nil {
			b.Fatal(err)
		}
		data, err := (&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: fmt.Sprintf("inst-%d", i), Now: t0}}).EncodeAs(f)
		if err != nil {
			b.Fatal(err)
		}
		logs[i] = &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}
	}
	return logs
}

// BenchmarkApplyBatchRegister measures the FSM side of a register, in the
// batches of 64 that Raft delivers.
// In each log format: what a replica pays to read the log.
func BenchmarkApplyBatchRegister(b *testing.B) {
	for _, format := range []Format{FormatJSON, FormatBinary} {
		b.Run(fmt.Sprintf("format=%d", format), func(b *testing.B) {
			logs := registerLogsAs(b, b.N, format)
			f := New(nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < len(logs); i += 64 {
				f.ApplyBatch(logs[i:min(i+64, len(logs))])
			}
		})
	}
}

// BenchmarkEncodeRegister: what the leader pays to write one.
func BenchmarkEncodeRegister(b *testing.B) {
	in := Instance{URL: "http://host-1:8080", Slug: "svc-1", Tags: []string{"t"}}
	if err := NormalizeInstance(&in); err != nil {
		b.Fatal(err)
	}
	cmd := &Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: "inst-1", Now: t0}}
	for _, format := range []Format{FormatJSON, FormatBinary} {
		b.Run(fmt.Sprintf("format=%d", format), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cmd.EncodeAs(format); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSnapshot20k measures persisting a 20,000-instance catalog.
func BenchmarkSnapshot20k(b *testing.B) {
	f := New(nil)
	f.ApplyBatch(registerLogs(b, 20000))
	b.ResetTimer()
	for range b.N {
		s, _ := f.Snapshot()
		if err := s.(*snapshot).write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListBySlug measures a local read of one slug among 20,000.
func BenchmarkListBySlug(b *testing.B) {
	f := New(nil)
	f.ApplyBatch(registerLogs(b, 20000))
	b.ResetTimer()
	for range b.N {
		if list, _, _ := f.Instances(nil, InstanceFilter{Slug: "svc-7"}); len(list) != 200 {
			b.Fatalf("%d", len(list))
		}
	}
}
