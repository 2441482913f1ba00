package ovsdb

import "context"

// Client is a connection to one OVSDB server (or, with several endpoints, to
// whichever answers), kept up in the background. It is safe for concurrent
// use.
type Client struct{}

// Dial starts a client for endpoint, "unix:/path" or "tcp:host:port" (or
// several of them separated by commas, tried in turn). It returns at once:
// the connection is made in the background and re-made with backoff
// whenever it drops, until Close. The only error is a malformed endpoint.
func Dial(endpoint string, opts Options) (*Client, error) { panic("unimplemented") }

// Close stops the client, closing its connection; pending calls fail with
// ErrClosed.
func (c *Client) Close() error { panic("unimplemented") }

// Connected reports whether the client is connected with its monitors
// established.
func (c *Client) Connected() bool { panic("unimplemented") }

// WaitConnected blocks until the client is connected (monitors
// established) or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error { panic("unimplemented") }

// OnConnect registers f to be called, in its own goroutine, after every
// successful (re)connection once every monitor's Cache holds the server's
// current rows, and at once if the client is connected now.
func (c *Client) OnConnect(f func()) { panic("unimplemented") }

// Schema returns the schema of database db as fetched on the current
// connection; ErrNotConnected before the first connection.
func (c *Client) Schema(db string) (*Schema, error) { panic("unimplemented") }

// Transact runs ops atomically in database db, encoding their values with
// db's schema. It fails with ErrNotConnected while disconnected, with an
// encoding error (nothing sent) for a value that does not fit its column,
// with a *TxnError if the server refused the transaction (results are then
// returned too), and with ctx's error if ctx ends first (the transaction
// may or may not have been committed).
func (c *Client) Transact(ctx context.Context, db string, ops ...Operation) ([]OpResult, error) {
	panic("unimplemented")
}

// Echo sends an echo request and waits for its reply. Because the client
// applies messages in the order received and ovsdb-server sends the monitor
// updates of a committed transaction before it handles a later request, a
// successful Echo after Transact means every Cache reflects that
// transaction.
func (c *Client) Echo(ctx context.Context) error { panic("unimplemented") }

// Monitor starts monitoring tables of database db (table → columns; nil or
// empty columns means all) and returns the Cache that replicates them. The
// monitor is re-established on every reconnection. If the client is
// connected, Monitor waits for the initial contents (and returns the
// server's error for an unknown table or column); otherwise it returns the
// empty, unsynced Cache at once, to be filled on connection.
func (c *Client) Monitor(ctx context.Context, db string, tables map[string][]string) (*Cache, error) {
	panic("unimplemented")
}
