package dynamomirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// API is the part of *dynamodb.Client the mirror uses.
type API interface {
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// NewClient returns a DynamoDB client configured the usual AWS way
// (environment, shared config and credentials files, profiles, instance
// roles: config.LoadDefaultConfig with opts), sending to endpoint instead
// of AWS's when endpoint is not empty (dynalite, DynamoDB Local).
//
// The SDK's own retries are kept short (3 attempts, at most 2 s apart) and
// without its client-side retry quota, which would otherwise turn a long
// outage into quota errors after it ends: the mirror backs off itself.
func NewClient(ctx context.Context, endpoint string, opts ...func(*config.LoadOptions) error) (*dynamodb.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dynamomirror: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("dynamomirror: no AWS region configured: set AWS_REGION (or a profile with a region)")
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.MaxBackoff = 2 * time.Second
			so.RateLimiter = ratelimit.None
		})
	}), nil
}

// errSchema is a table whose key is not (device S, ts S).
var errSchema = errors.New("wrong key schema")

// checkTable makes sure the table exists with our key schema, creating it
// (on-demand capacity) when it is missing and create is set.
func checkTable(ctx context.Context, api API, table string, create bool) (created bool, err error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing) && create:
		_, err = api.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   aws.String(table),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(AttrDevice), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(AttrTS), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrDevice), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrTS), KeyType: types.KeyTypeRange},
			},
		})
		var inUse *types.ResourceInUseException // created meanwhile by someone else
		if err != nil && !errors.As(err, &inUse) {
			return false, fmt.Errorf("create table %s: %w", table, err)
		}
		err = dynamodb.NewTableExistsWaiter(api).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute,
			func(o *dynamodb.TableExistsWaiterOptions) {
				o.MinDelay, o.MaxDelay = 100*time.Millisecond, 5*time.Second
			})
		if err != nil {
			return false, fmt.Errorf("wait for table %s to become active: %w", table, err)
		}
		return true, nil
	case errors.As(err, &missing):
		return false, fmt.Errorf("table %s does not exist (create it with partition key %q and sort key %q, both strings, or let the mirror create it)", table, AttrDevice, AttrTS)
	case err != nil:
		return false, fmt.Errorf("describe table %s: %w", table, err)
	}
	return false, keySchemaOK(out.Table)
}

func keySchemaOK(t *types.TableDescription) error {
	if t == nil {
		return nil
	}
	want := map[string]types.KeyType{AttrDevice: types.KeyTypeHash, AttrTS: types.KeyTypeRange}
	attrType := map[string]types.ScalarAttributeType{}
	for _, a := range t.AttributeDefinitions {
		attrType[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	ok := len(t.KeySchema) == len(want)
	for _, k := range t.KeySchema {
		name := aws.ToString(k.AttributeName)
		if want[name] != k.KeyType || attrType[name] != types.ScalarAttributeTypeS {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("table %s: %w: want partition key %q and sort key %q, both strings", aws.ToString(t.TableName), errSchema, AttrDevice, AttrTS)
	}
	return nil
}

// isValidation reports whether DynamoDB rejected the request itself
// (ValidationException): resending it unchanged cannot succeed.
func isValidation(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException"
}
