package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"

	"tracker/events"
	"tracker/events/dynamomirror"
	"tracker/events/owntracks"
	"tracker/views/web"
)

// mirrorFlags are serve's settings for the DynamoDB mirror
// (events/dynamomirror). Region and credentials are not flags: they come
// from the usual AWS configuration.
type mirrorFlags struct {
	MirrorDynamoDB         string // table name; the mirror is off when empty
	MirrorDynamoDBEndpoint string // endpoint override (dynalite, DynamoDB Local)
	MirrorDynamoDBCreate   bool   // create the table when it is missing
}

func (c *mirrorFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.MirrorDynamoDB, "mirror-dynamodb", "", "copy every event to this DynamoDB `table`, asynchronously from a checkpoint ("+mirrorCheckpointFile+" in --data); region and credentials from the usual AWS configuration (AWS_REGION, AWS_PROFILE, ~/.aws, instance role)")
	fs.StringVar(&c.MirrorDynamoDBEndpoint, "mirror-dynamodb-endpoint", "", "DynamoDB endpoint `URL` to use instead of AWS's (dynalite, DynamoDB Local)")
	fs.BoolVar(&c.MirrorDynamoDBCreate, "mirror-dynamodb-create", false, "create the --mirror-dynamodb table (on-demand capacity) when it does not exist")
}

// check validates the mirror settings without contacting anything.
func (c *mirrorFlags) check() error {
	if c.MirrorDynamoDB == "" {
		if c.MirrorDynamoDBEndpoint != "" || c.MirrorDynamoDBCreate {
			return errors.New("--mirror-dynamodb-endpoint and --mirror-dynamodb-create need --mirror-dynamodb TABLE")
		}
		return nil
	}
	if e := c.MirrorDynamoDBEndpoint; e != "" {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--mirror-dynamodb-endpoint %q: want an http:// or https:// URL", e)
		}
	}
	return nil
}

// openMirror returns the DynamoDB mirror of log when --mirror-dynamodb is
// set (nil otherwise), with its metrics registered. It contacts nothing:
// the table is checked when the mirror runs, and an unreachable DynamoDB
// only makes it wait.
func (c *mirrorFlags) openMirror(ctx context.Context, data dataDir, log events.Reader, decoder *owntracks.Decoder, metrics *web.Metrics, logger *slog.Logger) (*dynamomirror.Mirror, error) {
	if err := c.check(); err != nil || c.MirrorDynamoDB == "" {
		return nil, err
	}
	client, err := dynamomirror.NewClient(ctx, c.MirrorDynamoDBEndpoint)
	if err != nil {
		return nil, fmt.Errorf("--mirror-dynamodb: %w", err)
	}
	m, err := dynamomirror.New(log, dynamomirror.Config{
		Client: client, Table: c.MirrorDynamoDB, CreateTable: c.MirrorDynamoDBCreate,
		CheckpointFile: data.mirrorCheckpoint(), Decoder: decoder, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	if err := metrics.Registry().Register(m.Collector()); err != nil {
		return nil, fmt.Errorf("mirror metrics: %w", err)
	}
	return m, nil
}
