package dynamomirror

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"tracker/events"
	"tracker/events/erasure"
)

// Erasures reach the table: an erased event is never written (its
// placeholder has nothing to mirror), and when the mirror meets an
// erasure's tombstone it deletes the items of the events it erased, which
// it may have written before. Their keys (device, receive time) are no
// longer in the log, so it scans the table for items whose seq lies in
// the tombstone's range and deletes those the log now holds as
// placeholders. Deleting is idempotent: after a crash the tombstone is met
// again and the scan finds nothing left.

// isTombstone reports whether e is an erasure's tombstone.
func isTombstone(e events.Event) bool {
	return e.Source == events.SourceAdmin && e.Topic == erasure.Topic
}

// purge deletes the items of the events the tombstone erased.
func (m *Mirror) purge(ctx context.Context, tomb events.Event) error {
	t, err := erasure.ParseTombstone(tomb.Payload)
	if err != nil || t.Erased == 0 {
		return nil // kept in the log with its reason; nothing to delete
	}
	var erased []uint64 // ascending
	err = m.src.Scan(ctx, t.FirstSeq, func(e events.Event) error {
		if e.Seq > t.LastSeq {
			return errChunkFull // done
		}
		if e.Erased() {
			erased = append(erased, e.Seq)
		}
		return nil
	})
	if err != nil && err != errChunkFull {
		return fmt.Errorf("dynamomirror: read the erased events: %w", err)
	}
	var dels []types.WriteRequest
	var start map[string]types.AttributeValue
	for {
		var out *dynamodb.ScanOutput
		err := m.retry(ctx, func(ctx context.Context) error {
			cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
			defer cancel()
			var err error
			out, err = m.cfg.Client.Scan(cctx, &dynamodb.ScanInput{
				TableName:                aws.String(m.cfg.Table),
				ProjectionExpression:     aws.String("#d, #t, #s"),
				FilterExpression:         aws.String("#s BETWEEN :first AND :last"),
				ExpressionAttributeNames: map[string]string{"#d": AttrDevice, "#t": AttrTS, "#s": AttrSeq},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":first": num(t.FirstSeq), ":last": num(t.LastSeq),
				},
				ExclusiveStartKey: start,
			})
			return err
		})
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			n, ok := it[AttrSeq].(*types.AttributeValueMemberN)
			if !ok {
				continue
			}
			seq, err := strconv.ParseUint(n.Value, 10, 64)
			if _, found := slices.BinarySearch(erased, seq); err != nil || !found {
				continue
			}
			dels = append(dels, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
				Key: map[string]types.AttributeValue{AttrDevice: it[AttrDevice], AttrTS: it[AttrTS]}}})
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	for i := 0; i < len(dels); i += BatchSize {
		batch := dels[i:min(i+BatchSize, len(dels))]
		err := m.retry(ctx, func(ctx context.Context) error {
			var err error
			batch, err = m.deleteBatch(ctx, batch)
			return err
		})
		if err != nil {
			return err
		}
	}
	m.deleted.Add(uint64(len(dels)))
	m.logger.Info("DynamoDB mirror: deleted the items of erased events", "tombstone", tomb.Seq, "deleted", len(dels))
	return nil
}

// deleteBatch deletes with BatchWriteItem, resending unprocessed requests
// after a backoff; it returns what is left when a call fails.
func (m *Mirror) deleteBatch(ctx context.Context, reqs []types.WriteRequest) ([]types.WriteRequest, error) {
	for try := 0; len(reqs) > 0; try++ {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		out, err := m.cfg.Client.BatchWriteItem(cctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{m.cfg.Table: reqs},
		})
		cancel()
		if err != nil {
			return reqs, err
		}
		if reqs = out.UnprocessedItems[m.cfg.Table]; len(reqs) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return reqs, ctx.Err()
		case <-time.After(m.delay(try)):
		}
	}
	return nil, nil
}
