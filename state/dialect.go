package state

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// dialect is what differs between the SQLite and the PostgreSQL store. The
// queries are written once, in SQLite's spelling with ? placeholders; the
// dialect rebinds them ($1, $2, … for PostgreSQL) and supplies the few
// clauses that are spelled differently.
type dialect struct {
	name     string
	dollar   bool // $n placeholders
	returnID bool // INSERT … RETURNING id instead of LastInsertId
	// equalFold compares a column with a placeholder ignoring case.
	equalFold func(col string) string
}

var (
	sqliteDialect = &dialect{
		name:      "sqlite",
		equalFold: func(col string) string { return col + "=? COLLATE NOCASE" },
	}
	postgresDialect = &dialect{
		name: "postgres", dollar: true, returnID: true,
		equalFold: func(col string) string { return "lower(" + col + ")=lower(?)" },
	}
)

// rebind rewrites ? placeholders for the dialect. The queries have no ?
// inside string literals.
func (d *dialect) rebind(q string) string {
	if !d.dollar || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// execer is a database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs the store's queries through its dialect.
type conn struct {
	x execer
	d *dialect
	// stmts (a transaction's): each statement is prepared once per
	// transaction, so a transaction that writes a import job's 100,000
	// rows does not parse the same SQL 100,000 times.
	stmts *stmtCache
}

// stmtCache holds a transaction's prepared statements (closed with it).
type stmtCache struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if c.stmts != nil && len(args) > 0 {
		st, err := c.stmts.get(ctx, c.d.rebind(q))
		if err != nil {
			return nil, err
		}
		return st.ExecContext(ctx, args...)
	}
	return c.x.ExecContext(ctx, c.d.rebind(q), args...)
}

func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.x.QueryContext(ctx, c.d.rebind(q), args...)
}

func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if c.stmts != nil && len(args) > 0 {
		st, err := c.stmts.get(ctx, c.d.rebind(q))
		if err == nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return c.x.QueryRowContext(ctx, c.d.rebind(q), args...)
}

// insertID runs an INSERT into a table with an id column and returns the
// new row's id.
func (c conn) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	if c.d.returnID {
		var id int64
		err := c.QueryRowContext(ctx, q+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// db is the store's database: a conn that also begins transactions.
type db struct {
	conn
	sql *sql.DB
}

// txn is a transaction that runs queries through the dialect.
type txn struct {
	conn
	sql *sql.Tx
}

func (d db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	t, err := d.sql.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{conn: conn{x: t, d: d.d, stmts: &stmtCache{tx: t}}, sql: t}, nil
}

func (t *txn) Commit() error   { return t.sql.Commit() }
func (t *txn) Rollback() error { return t.sql.Rollback() }
func (d db) Close() error      { return d.sql.Close() }
func (d db) Exec(q string, args ...any) (sql.Result, error) {
	return d.ExecContext(context.Background(), q, args...)
}
