package state

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
)

// migrateTable is one table Migrate copies.
type migrateTable struct {
	name string
	key  string // the primary key: rows are copied in its order
	// serial: the key is an autoincrement id (BIGSERIAL on PostgreSQL),
	// whose sequence the copy sets past the copied ids.
	serial bool
}

// migrateTables are the tables Migrate copies, and the only ones: a table
// not listed here is not copied. That is deliberate for per-deployment
// tables (schema_version is each store's own; an HA leader lease belongs to
// the daemons of one database, and copying it would hand the target a
// leader that never took it); a new table that holds history or ownership
// must be added here (TestMigrateCopiesEveryTableOfTheSchema fails until
// it is, or is named in migrateSkipped).
//
// The order matters only for reading: runs before the journal that points
// at them, import jobs before their rows, held before its events. Ids are
// copied as they are, so every run_id, job_id, entry and held_id keeps
// pointing at the same row (an open import job stays open: the target's
// next run awaits it as the source's would have).
var migrateTables = []migrateTable{
	{name: "members", key: "userid_key"},
	{name: "departments", key: "key"},
	{name: "runs", key: "id", serial: true},
	{name: "journal", key: "id", serial: true},
	{name: "import_jobs", key: "id", serial: true},
	{name: "import_job_rows", key: "entry"},
	{name: "held", key: "id", serial: true},
	{name: "held_events", key: "id", serial: true},
}

// migrateSkipped are the tables of the schema Migrate knowingly leaves
// behind (see migrateTables).
var migrateSkipped = []string{"schema_version", "leader"}

// migrateBatchRows is how many rows one INSERT carries: few enough that a
// batch of the widest table stays far below both drivers' limits on
// placeholders (SQLite 32766, PostgreSQL 65535), many enough that a 1M-row
// journal is not 1M round trips to PostgreSQL.
const migrateBatchRows = 500

// TableCount is one table's row count on both sides of a migration.
type TableCount struct {
	Table  string `json:"table"`
	Source int64  `json:"source"`
	Target int64  `json:"target"` // after the copy; with DryRun, what the target holds now
}

// MigrateReport says what Migrate copied and how it checked the copy.
type MigrateReport struct {
	From, To string // the stores, by file or host:port/database (never a password)
	DryRun   bool
	Tables   []TableCount
	// SourceChecksum and TargetChecksum are ShadowChecksum of each side;
	// after a migration they are equal (else Migrate failed). With DryRun
	// TargetChecksum is "".
	SourceChecksum, TargetChecksum string
}

// TargetNotEmptyError is Migrate's refusal of a target that already holds
// rows: copying onto a live store would merge two histories (two shadows,
// two run and journal sequences) into one that neither side had.
type TargetNotEmptyError struct {
	Target string           // the store, as in MigrateReport.To
	Counts map[string]int64 // the non-empty tables and their rows
}

func (e *TargetNotEmptyError) Error() string {
	var parts []string
	for _, t := range migrateTables {
		if n := e.Counts[t.name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", t.name, n))
		}
	}
	return fmt.Sprintf("%s is not empty (%s): migrating onto a store in use would merge two histories; migrate into a new, empty database or file",
		e.Target, strings.Join(parts, ", "))
}

// MigrateMismatchError is a copy whose verification failed: a table's
// counts or the shadow's checksums differ between the two sides. The target
// transaction was rolled back.
type MigrateMismatchError struct {
	Report *MigrateReport
	What   string
}

func (e *MigrateMismatchError) Error() string {
	return fmt.Sprintf("migrate %s to %s: the copy does not match its source (%s); nothing was written", e.Report.From, e.Report.To, e.What)
}

// Migrate copies every row of the tables in migrateTables from one open
// store into another, empty one (either driver to either driver), in one
// transaction on the target, and verifies the copy before committing it.
//
// Contracts:
//   - The target must be empty: any row in any copied table is a
//     *TargetNotEmptyError, checked inside the transaction, and nothing is
//     written.
//   - Ids are kept (runs, journal, import_jobs, held, held_events), so references
//     between tables stay valid; on PostgreSQL each id sequence is set past
//     the largest copied id, so the target's next run or journal entry gets
//     a fresh id. (SQLite's AUTOINCREMENT follows inserted ids by itself.)
//   - Rows are streamed in batches, never all in memory.
//   - Verification, before commit: every table's row count equal on both
//     sides (and to the rows read), and ShadowChecksum equal. A mismatch is
//     a *MigrateMismatchError and the transaction is rolled back.
//   - With dryRun nothing is written: the report has the source's counts
//     and checksum and the target's present counts; a non-empty target is
//     refused as it would be. A dry run may pass a nil target, for one that
//     does not exist yet (so opening it would create it): it is empty.
//
// Both stores are open, so both are locked: no daemon can write to either
// while it runs (stop the daemons first). The source is only read.
func Migrate(ctx context.Context, from, to *Store, dryRun bool) (*MigrateReport, error) {
	rep := &MigrateReport{From: from.where, DryRun: dryRun}
	if to == nil && !dryRun {
		return rep, errors.New("migrate: no target store")
	}
	if to != nil {
		rep.To = to.where
		if err := checkColumns(ctx, from, to); err != nil {
			return rep, err
		}
	}
	sum, err := from.ShadowChecksum(ctx)
	if err != nil {
		return rep, fmt.Errorf("checksum %s: %w", from.where, err)
	}
	rep.SourceChecksum = sum
	for _, t := range migrateTables {
		n, err := countRows(ctx, from.db, t.name)
		if err != nil {
			return rep, fmt.Errorf("count %s in %s: %w", t.name, from.where, err)
		}
		rep.Tables = append(rep.Tables, TableCount{Table: t.name, Source: n})
	}
	if to == nil {
		return rep, nil
	}

	// Fenced like every write: on PostgreSQL the transaction holds the
	// leader row's epoch, so no daemon can take the target over mid-copy.
	tx, err := to.writeTx(ctx)
	if err != nil {
		return rep, fmt.Errorf("begin on %s: %w", to.where, err)
	}
	defer tx.Rollback()
	nonEmpty := map[string]int64{}
	for i, t := range migrateTables {
		n, err := countRows(ctx, tx, t.name)
		if err != nil {
			return rep, fmt.Errorf("count %s in %s: %w", t.name, to.where, err)
		}
		rep.Tables[i].Target = n
		if n > 0 {
			nonEmpty[t.name] = n
		}
	}
	if len(nonEmpty) > 0 {
		return rep, &TargetNotEmptyError{Target: to.where, Counts: nonEmpty}
	}
	if dryRun {
		return rep, nil
	}

	for i, t := range migrateTables {
		n, err := copyTable(ctx, from, tx, t)
		if err != nil {
			return rep, fmt.Errorf("copy %s from %s to %s: %w", t.name, from.where, to.where, err)
		}
		if n != rep.Tables[i].Source {
			return rep, &MigrateMismatchError{Report: rep, What: fmt.Sprintf("%s: counted %d rows, read %d", t.name, rep.Tables[i].Source, n)}
		}
		if t.serial && to.db.d == postgresDialect {
			q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'), COALESCE(MAX(%[2]s), 0) + 1, false) FROM %[1]s`, t.name, t.key)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return rep, fmt.Errorf("set the id sequence of %s on %s: %w", t.name, to.where, err)
			}
		}
	}

	var mismatch []string
	for i, t := range migrateTables {
		n, err := countRows(ctx, tx, t.name)
		if err != nil {
			return rep, fmt.Errorf("count %s in %s: %w", t.name, to.where, err)
		}
		rep.Tables[i].Target = n
		if n != rep.Tables[i].Source {
			mismatch = append(mismatch, fmt.Sprintf("%s %d → %d", t.name, rep.Tables[i].Source, n))
		}
	}
	if rep.TargetChecksum, err = shadowChecksum(ctx, tx, to.db.d); err != nil {
		return rep, fmt.Errorf("checksum %s: %w", to.where, err)
	}
	if rep.TargetChecksum != rep.SourceChecksum {
		mismatch = append(mismatch, fmt.Sprintf("shadow sha256 %s ≠ %s", rep.SourceChecksum, rep.TargetChecksum))
	}
	if len(mismatch) > 0 {
		return rep, &MigrateMismatchError{Report: rep, What: strings.Join(mismatch, "; ")}
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("commit on %s: %w", to.where, err)
	}
	return rep, nil
}

// checkColumns makes sure both stores have the same columns in every
// copied table, which they do when one orgsync opened both (each migrated
// to SchemaVersion): the copy takes the columns from the source, so a
// column only the target has would be left at its default.
func checkColumns(ctx context.Context, from, to *Store) error {
	for _, t := range migrateTables {
		fc, err := tableColumns(ctx, from.db, t.name)
		if err != nil {
			return fmt.Errorf("read the columns of %s in %s: %w", t.name, from.where, err)
		}
		tc, err := tableColumns(ctx, to.db, t.name)
		if err != nil {
			return fmt.Errorf("read the columns of %s in %s: %w", t.name, to.where, err)
		}
		slices.Sort(fc)
		slices.Sort(tc)
		if !slices.Equal(fc, tc) {
			return fmt.Errorf("table %s has columns %s in %s but %s in %s: open both with the same orgsync", t.name,
				strings.Join(fc, ","), from.where, strings.Join(tc, ","), to.where)
		}
	}
	return nil
}

// tableColumns names a table's columns as the database reports them for a
// query of all of them (the same call on both drivers).
func tableColumns(ctx context.Context, q execer, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT * FROM `+table+` LIMIT 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	for i := range cols {
		cols[i] = strings.ToLower(cols[i])
	}
	return cols, rows.Err()
}

func countRows(ctx context.Context, q execer, table string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
	return n, err
}

// copyTable streams one table's rows from the source into the target
// transaction, migrateBatchRows at a time, and returns how many it copied.
// Values go across as the driver read them (integers, text, NULL), so
// what is stored is copied byte for byte.
func copyTable(ctx context.Context, from *Store, tx *txn, t migrateTable) (int64, error) {
	cols, err := tableColumns(ctx, from.db, t.name)
	if err != nil {
		return 0, err
	}
	rows, err := from.db.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+t.name+` ORDER BY `+t.key)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	batch := make([]any, 0, migrateBatchRows*len(cols))
	stmts := map[int]string{} // rows in a batch → its INSERT
	var n int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		k := len(batch) / len(cols)
		q, ok := stmts[k]
		if !ok {
			q = insertRows(t.name, cols, k)
			stmts[k] = q
		}
		if _, err := tx.ExecContext(ctx, q, batch...); err != nil {
			return err
		}
		n += int64(k)
		clear(batch)
		batch = batch[:0]
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok { // a driver's buffer: copy it before the next Scan reuses it
				v = string(b)
			}
			batch = append(batch, v)
		}
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// insertRows is an INSERT of k rows into table, with ? placeholders (the
// transaction rebinds them for PostgreSQL).
func insertRows(table string, cols []string, k int) string {
	one := "(" + placeholders(len(cols)) + ")"
	var b strings.Builder
	b.Grow(len(table) + 16*len(cols) + k*(len(one)+1))
	b.WriteString("INSERT INTO " + table + "(" + strings.Join(cols, ", ") + ") VALUES ")
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// ShadowChecksum is a SHA-256 (hex) of the shadow as stored: every member
// (userid_key, userid, person_key, data, adopted, disabled_at) in the byte
// order of userid_key, then every department (key, id, data, adopted) in the
// byte order of key. Two stores with the same checksum own the same members
// and departments, as last applied, adopted or created, and disabled at the
// same instants, whatever their driver.
//
// updated_at is not in it: it is bookkeeping, not the shadow, and an
// import rewrites it. Each field is written with its length (a NULL as a
// length of its own), so no two different shadows hash the same bytes.
func (s *Store) ShadowChecksum(ctx context.Context) (string, error) {
	return shadowChecksum(ctx, s.db, s.db.d)
}

// shadowChecksum reads through q, a database or transaction of dialect d.
func shadowChecksum(ctx context.Context, q execer, d *dialect) (string, error) {
	h := sha256.New()
	mrows, err := q.QueryContext(ctx, `SELECT userid_key, userid, person_key, data, adopted, disabled_at FROM members ORDER BY `+byteOrder(d, "userid_key"))
	if err != nil {
		return "", fmt.Errorf("read members: %w", err)
	}
	defer mrows.Close()
	h.Write([]byte("members\n"))
	for mrows.Next() {
		var key, userid, person, data string
		var adopted int64
		var disabled sql.NullInt64
		if err := mrows.Scan(&key, &userid, &person, &data, &adopted, &disabled); err != nil {
			return "", err
		}
		for _, f := range []string{key, userid, person, data} {
			hashField(h, &f)
		}
		hashInt(h, sql.NullInt64{Int64: adopted, Valid: true})
		hashInt(h, disabled)
	}
	if err := mrows.Err(); err != nil {
		return "", err
	}
	drows, err := q.QueryContext(ctx, `SELECT key, id, data, adopted FROM departments ORDER BY `+byteOrder(d, "key"))
	if err != nil {
		return "", fmt.Errorf("read departments: %w", err)
	}
	defer drows.Close()
	h.Write([]byte("departments\n"))
	for drows.Next() {
		var key, data string
		var id, adopted int64
		if err := drows.Scan(&key, &id, &data, &adopted); err != nil {
			return "", err
		}
		hashField(h, &key)
		hashInt(h, sql.NullInt64{Int64: id, Valid: true})
		hashField(h, &data)
		hashInt(h, sql.NullInt64{Int64: adopted, Valid: true})
	}
	if err := drows.Err(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashField writes a field as its length and bytes; nil is NULL, written
// as a length no string has.
func hashField(h hash.Hash, s *string) {
	var n [8]byte
	if s == nil {
		binary.BigEndian.PutUint64(n[:], ^uint64(0))
		h.Write(n[:])
		return
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(*s)))
	h.Write(n[:])
	h.Write([]byte(*s))
}

func hashInt(h hash.Hash, v sql.NullInt64) {
	if !v.Valid {
		hashField(h, nil)
		return
	}
	s := strconv.FormatInt(v.Int64, 10)
	hashField(h, &s)
}

// byteOrder is an ORDER BY term that sorts a text column by its bytes on
// both drivers: SQLite's default (BINARY) collation does; PostgreSQL's
// follows the database's locale unless told "C".
func byteOrder(d *dialect, col string) string {
	if d == postgresDialect {
		return col + ` COLLATE "C"`
	}
	return col
}
