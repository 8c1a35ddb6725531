package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"
)

// CheckTables verifies the footer and index checksum of every table file
// in dir, as Badger reads them at open, but returning an error: Badger
// panics on a truncated or garbled footer in a goroutine of its own,
// which would stop the server instead of having the projections rebuilt.
// Data blocks too: Badger's iterators end silently at a block that fails
// its checksum, which would load part of the state as if it were all.
func CheckTables(dir string) error {
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return err
	}
	for _, name := range tables {
		if err := checkTable(name); err != nil {
			return fmt.Errorf("projections: table %s: %w", filepath.Base(name), err)
		}
	}
	return nil
}

func checkTable(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pos := fi.Size()
	read := func(n int64) ([]byte, error) {
		if n < 0 || n > pos {
			return nil, fmt.Errorf("footer claims %d bytes before offset %d of %d", n, pos, fi.Size())
		}
		pos -= n
		b := make([]byte, n)
		if _, err := f.ReadAt(b, pos); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := read(4)
	if err != nil {
		return err
	}
	sumBytes, err := read(int64(binary.BigEndian.Uint32(b)))
	if err != nil {
		return err
	}
	var sum pb.Checksum
	if err := proto.Unmarshal(sumBytes, &sum); err != nil {
		return fmt.Errorf("index checksum: %w", err)
	}
	if b, err = read(4); err != nil {
		return err
	}
	index, err := read(int64(binary.BigEndian.Uint32(b)))
	if err != nil {
		return err
	}
	if err := y.VerifyChecksum(index, &sum); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	// Every block against its checksum (the projections' tables are not
	// compressed, so blocks are checked as stored).
	idx := fb.GetRootAsTableIndex(index, 0)
	var bo fb.BlockOffset
	// One buffer for every block: the check runs before Badger allocates
	// its memtable, and megabytes of garbage here would be memory Go must
	// zero (making it resident) when the memtable reuses it.
	var blk []byte
	for i := range idx.OffsetsLength() {
		if !idx.Offsets(&bo, i) {
			return fmt.Errorf("block %d: no offset", i)
		}
		off, n := int64(bo.Offset()), int64(bo.Len())
		if n < 0 || off+n > pos {
			return fmt.Errorf("block %d: %d bytes at %d, outside the data", i, n, off)
		}
		if int64(cap(blk)) < n {
			blk = make([]byte, n)
		}
		blk = blk[:n]
		if _, err := f.ReadAt(blk, off); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
		if err := checkBlock(blk); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	return nil
}

// checkBlock verifies one block: stored plain (as the store writes them),
// or compressed by a Badger with other options (then the checksum covers
// the decompressed block).
func checkBlock(blk []byte) error {
	err := checkPlainBlock(blk)
	if err == nil {
		return nil
	}
	if d, derr := snappy.Decode(nil, blk); derr == nil && checkPlainBlock(d) == nil {
		return nil
	}
	if d, derr := zstdDecoder.DecodeAll(blk, nil); derr == nil && checkPlainBlock(d) == nil {
		return nil
	}
	return err
}

var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))

func checkPlainBlock(blk []byte) error {
	n := int64(len(blk))
	if n < 8 {
		return fmt.Errorf("%d bytes", n)
	}
	chk := int64(binary.BigEndian.Uint32(blk[n-4:]))
	if chk > n-4 {
		return fmt.Errorf("checksum length %d of %d bytes", chk, n)
	}
	var sum pb.Checksum
	if err := proto.Unmarshal(blk[n-4-chk:n-4], &sum); err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	return y.VerifyChecksum(blk[:n-4-chk], &sum)
}
