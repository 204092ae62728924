package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSONLines is the sink of --audit-log: one JSON object per line (the schema in
// docs/security.md, "Audit trail"), buffered and flushed whenever the queue empties.
type JSONLines struct {
	w     *bufio.Writer
	buf   []byte // the line being written, reused
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

// Marshal returns r as one line of the stream (the schema in docs/security.md), without the
// newline.
func Marshal(r *Record) []byte { return appendRecord(nil, r) }

// appendRecord appends r's JSON object to b, without reflection or allocation beyond b's
// growth: the Trail's goroutine writes every record of the hot path.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, "replica", r.Replica)
	b = append(b, `,"caller":{"kind":`...)
	b = appendString(b, string(r.Caller.Kind))
	b = appendField(b, "id", r.Caller.ID)
	b = appendField(b, "description", r.Caller.Description)
	b = append(b, '}')
	b = appendField(b, "connection", r.Connection)
	b = appendField(b, "subject", r.Subject)
	b = append(b, `,"action":`...)
	b = appendString(b, string(r.Action))
	b = append(b, `,"outcome":`...)
	b = appendString(b, string(r.Outcome))
	b = appendField(b, "reason", r.Reason)
	b = appendField(b, "method", r.Method)
	b = appendField(b, "host", r.Host)
	b = appendField(b, "path", r.Path)
	b = appendInt(b, "upstream_status", int64(r.UpstreamStatus))
	b = appendInt(b, "bytes_in", r.BytesIn)
	b = appendInt(b, "bytes_out", r.BytesOut)
	if r.Duration != 0 {
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', -1, 64)
	}
	b = appendInt(b, "attempts", int64(r.Attempts))
	return append(b, '}')
}

// appendField appends ,"name":"v" unless v is empty.
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendInt appends ,"name":v unless v is 0.
func appendInt(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// appendString appends s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Name implements Sink.
func (j *JSONLines) Name() string { return "jsonl" }

// Write implements Sink.
func (j *JSONLines) Write(_ context.Context, r *Record) error {
	j.buf = append(appendRecord(j.buf[:0], r), '\n')
	if len(j.buf) > j.w.Available() {
		// Flush first, so that a line is never split across two writes: other processes
		// (tokend's commands) may append to the same file between them.
		if err := j.w.Flush(); err != nil {
			return err
		}
	}
	_, err := j.w.Write(j.buf)
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
