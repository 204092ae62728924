package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// JSONLines is the sink of --audit-log: one JSON object per line (the schema in
// docs/security.md, "Audit trail"), buffered and flushed whenever the queue empties.
type JSONLines struct {
	w     *bufio.Writer
	close func() error
}

// NewJSONLines writes records to w.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), close: func() error { return nil }}
}

// OpenJSONLines opens the stream --audit-log names: "-" is standard output, anything else
// a file, created with mode 0600 or appended to.
func OpenJSONLines(path string) (*JSONLines, error) {
	if path == "-" {
		return NewJSONLines(os.Stdout), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	j := NewJSONLines(f)
	j.close = f.Close
	return j, nil
}

// line is a Record as written: field names of the documented schema.
type line struct {
	Time           string  `json:"time"`
	Replica        string  `json:"replica,omitempty"`
	Caller         Caller  `json:"caller"`
	Connection     string  `json:"connection,omitempty"`
	Action         Action  `json:"action"`
	Outcome        Outcome `json:"outcome"`
	Reason         string  `json:"reason,omitempty"`
	Method         string  `json:"method,omitempty"`
	Host           string  `json:"host,omitempty"`
	Path           string  `json:"path,omitempty"`
	UpstreamStatus int     `json:"upstream_status,omitempty"`
	BytesIn        int64   `json:"bytes_in,omitempty"`
	BytesOut       int64   `json:"bytes_out,omitempty"`
	DurationMS     float64 `json:"duration_ms,omitempty"`
	Attempts       int     `json:"attempts,omitempty"`
}

// Marshal returns r as one line of the stream, without the newline.
func Marshal(r *Record) ([]byte, error) {
	return json.Marshal(line{
		Time: r.Time.UTC().Format(time.RFC3339Nano), Replica: r.Replica, Caller: r.Caller,
		Connection: r.Connection, Action: r.Action, Outcome: r.Outcome, Reason: r.Reason,
		Method: r.Method, Host: r.Host, Path: r.Path, UpstreamStatus: r.UpstreamStatus,
		BytesIn: r.BytesIn, BytesOut: r.BytesOut, Attempts: r.Attempts,
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
	})
}

// Name implements Sink.
func (j *JSONLines) Name() string { return "jsonl" }

// Write implements Sink.
func (j *JSONLines) Write(_ context.Context, r *Record) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = j.w.Write(b)
	return err
}

// Flush implements Sink.
func (j *JSONLines) Flush() error { return j.w.Flush() }

// Close flushes and closes the file (not standard output).
func (j *JSONLines) Close() error {
	err := j.w.Flush()
	if cerr := j.close(); err == nil {
		err = cerr
	}
	return err
}
