package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"time"
)

// entry is one file of an archive.
type entry struct {
	name string      // the name in the archive
	path string      // the file on disk
	mode fs.FileMode // the permissions recorded in the archive
}

// writeZip writes the entries, deflated, into the zip dst, each with the modification time
// mtime and its mode, so that the same files always give the same bytes.
func writeZip(dst string, mtime time.Time, entries []entry) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime.UTC()}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if err := copyFrom(w, e.path); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// writeTarGz writes the entries into the gzip-compressed tar dst, each a regular file with
// the modification time mtime, its mode and owner 0, so that the same files always give the
// same bytes.
func writeTarGz(dst string, mtime time.Time, entries []entry) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	gz.ModTime = mtime.UTC()
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		st, err := os.Stat(e.path)
		if err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: int64(e.mode.Perm()),
			Size: st.Size(), ModTime: mtime.UTC(), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if err := copyFrom(tw, e.path); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return f.Close()
}

// copyFrom copies the file at path to w.
func copyFrom(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
