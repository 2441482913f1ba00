package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a Run.
type Report struct {
	// Ops holds one entry per timed operation, in the order they ran.
	Ops []OpStats `json:"ops"`
	// ServerRSSBytes is process_resident_memory_bytes from {URL}/metrics,
	// or 0 when the endpoint does not export it.
	ServerRSSBytes int64 `json:"server_rss_bytes"`
	// Errors holds the first few distinct error responses.
	Errors []string `json:"errors"`
}

// OpStats summarises one timed operation ("network create", ...).
type OpStats struct {
	Name      string
	Count     int     // operations attempted
	Errors    int     // operations that failed (non-2xx or transport error)
	Seconds   float64 // wall time of the phase
	PerSecond float64 // successful operations per second of wall time
	P50, P90  time.Duration
	P99, Max  time.Duration
}

type opStatsJSON struct {
	Name      string  `json:"name"`
	Count     int     `json:"count"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMS(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Millisecond))) }

// MarshalJSON writes the latencies as milliseconds (p50_ms, ...).
func (s OpStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(opStatsJSON{
		Name: s.Name, Count: s.Count, Errors: s.Errors,
		Seconds: s.Seconds, PerSecond: s.PerSecond,
		P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Max: ms(s.Max),
	})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (s *OpStats) UnmarshalJSON(b []byte) error {
	var j opStatsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = OpStats{
		Name: j.Name, Count: j.Count, Errors: j.Errors,
		Seconds: j.Seconds, PerSecond: j.PerSecond,
		P50: fromMS(j.P50), P90: fromMS(j.P90), P99: fromMS(j.P99), Max: fromMS(j.Max),
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	if out.Ops == nil {
		out.Ops = []OpStats{}
	}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteTable writes the report as an aligned text table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OPERATION\tCOUNT\tERRORS\tSECONDS\tOPS/S\tP50 ms\tP90 ms\tP99 ms\tMAX ms\t")
	for _, s := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			s.Name, s.Count, s.Errors, s.Seconds, s.PerSecond,
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.ServerRSSBytes > 0 {
		if _, err := fmt.Fprintf(w, "\nserver RSS: %.1f MiB\n", float64(r.ServerRSSBytes)/(1<<20)); err != nil {
			return err
		}
	}
	if len(r.Errors) > 0 {
		if _, err := fmt.Fprintf(w, "\nfirst errors:\n"); err != nil {
			return err
		}
		for _, e := range r.Errors {
			if _, err := fmt.Fprintf(w, "  %s\n", e); err != nil {
				return err
			}
		}
	}
	return nil
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted samples: the smallest sample such that at least p% of the samples
// are less than or equal to it. It returns 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// summarize builds the OpStats of one phase. samples are the latencies of
// all completed operations, successful or not.
func summarize(name string, samples []time.Duration, errs int, wall time.Duration) OpStats {
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	s := OpStats{
		Name:    name,
		Count:   len(sorted),
		Errors:  errs,
		Seconds: wall.Seconds(),
		P50:     percentile(sorted, 50),
		P90:     percentile(sorted, 90),
		P99:     percentile(sorted, 99),
	}
	if len(sorted) > 0 {
		s.Max = sorted[len(sorted)-1]
	}
	if s.Seconds > 0 {
		s.PerSecond = float64(s.Count-s.Errors) / s.Seconds
	}
	return s
}
