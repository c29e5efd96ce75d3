/** The error table, the per-area code tables and the protocol answers built from them (src/errors/errors.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defineErrorCodes,
  ERROR_MAPPINGS,
  errorClassOfHttpStatus,
  errorFromHttpAnswer,
  exitStatusOf,
  httpStatusOf,
  InclavareError,
  problemType,
  toGrpcStatus,
  toHttpProblem,
} from '../../../src/errors/errors.ts';

const testError = defineErrorCodes('TEST_ERR', {
  TEST_ERR_USAGE: 'usage',
  TEST_ERR_GONE: 'not-found',
  TEST_ERR_TSM_PROVIDER: 'failed-precondition',
});

describe('the class table', () => {
  test('usage errors exit 2 and are INVALID_ARGUMENT (3) / 400 on the wire; every other class exits 1', () => {
    assert.deepEqual(ERROR_MAPPINGS.usage, { exitCode: 2, grpcStatus: 3, httpStatus: 400 });
    for (const [cls, m] of Object.entries(ERROR_MAPPINGS)) if (cls !== 'usage') assert.equal(m.exitCode, 1, cls);
  });

  test('exitStatusOf() and httpStatusOf() read the class; an unexpected error is 1 / 500', () => {
    assert.equal(exitStatusOf(testError('TEST_ERR_USAGE', 'Invalid --at')), 2);
    assert.equal(exitStatusOf(testError('TEST_ERR_GONE', 'x')), 1);
    assert.equal(exitStatusOf(new Error('boom')), 1);
    assert.equal(httpStatusOf(testError('TEST_ERR_GONE', 'x')), 404);
    assert.equal(httpStatusOf('boom'), 500);
  });
});

describe('defineErrorCodes()', () => {
  test('the factory takes the class from the table and keeps code, message, cause and details', () => {
    const cause = new Error('ENOENT');
    const err = testError('TEST_ERR_GONE', 'Cannot read x', { cause, details: { path: 'x' } });
    assert.ok(err instanceof InclavareError);
    assert.deepEqual([err.code, err.errorClass, err.message, err.cause, err.details], ['TEST_ERR_GONE', 'not-found', 'Cannot read x', cause, { path: 'x' }]);
  });

  test('the code decides the class: a call site cannot choose another', () => {
    const err = testError('TEST_ERR_TSM_PROVIDER', 'x', { errorClass: 'internal' } as object);
    assert.equal(err.errorClass, 'failed-precondition');
    // @ts-expect-error -- one class per code: the factory takes no class
    testError('TEST_ERR_GONE', 'x', { errorClass: 'internal' });
  });

  test('a code outside the table is refused at run time too (callers without types)', () => {
    const untyped = testError as unknown as (code: string, message: string, options?: object) => InclavareError;
    assert.throws(() => untyped('TEST_ERR_NOPE', 'x'), TypeError);
  });

  test('the factory names its prefix and table', () => {
    assert.equal(testError.prefix, 'TEST_ERR');
    assert.equal(testError.table.TEST_ERR_GONE, 'not-found');
  });
});

describe('protocol answers', () => {
  test('toGrpcStatus() gives the class status, the message with its causes, and the code in the metadata', () => {
    const err = testError('TEST_ERR_GONE', 'Cannot find container c1', { cause: new Error('no state directory') });
    assert.deepEqual(toGrpcStatus(err), {
      code: 5,
      details: 'Cannot find container c1: no state directory',
      metadata: { 'inclavare-error-code': 'TEST_ERR_GONE' },
    });
    assert.equal(toGrpcStatus(testError('TEST_ERR_USAGE', 'x')).code, 3);
  });

  test('toHttpProblem() is an RFC 7807 body whose type names the code', () => {
    const answer = toHttpProblem(testError('TEST_ERR_TSM_PROVIDER', 'Cannot get a report'));
    assert.deepEqual(answer, {
      status: 412,
      contentType: 'application/problem+json',
      body: { type: 'urn:inclavare:error:TEST_ERR_TSM_PROVIDER', title: 'failed-precondition', status: 412, detail: 'Cannot get a report', code: 'TEST_ERR_TSM_PROVIDER' },
    });
    assert.equal(problemType('TEST_ERR_GONE'), 'urn:inclavare:error:TEST_ERR_GONE');
  });

  test('an unexpected error answers INTERNAL / 500 without its message (it may carry internals)', () => {
    const secret = new Error('open /var/lib/keys/platform.pem: EACCES');
    assert.equal(toGrpcStatus(secret).code, 13);
    assert.doesNotMatch(toGrpcStatus(secret).details, /platform\.pem/);
    const problem = toHttpProblem(secret);
    assert.equal(problem.status, 500);
    assert.equal(problem.body.type, 'about:blank');
    assert.doesNotMatch(JSON.stringify(problem), /platform\.pem/);
  });

  test('errorFromHttpAnswer() reads the class back from the status (400 is invalid-argument, unknown 5xx internal)', () => {
    assert.equal(errorClassOfHttpStatus(400), 'invalid-argument');
    assert.equal(errorClassOfHttpStatus(412), 'failed-precondition');
    assert.equal(errorClassOfHttpStatus(502), 'internal');
    assert.equal(errorClassOfHttpStatus(418), 'invalid-argument');
    const err = errorFromHttpAnswer('TEST_ERR_GONE', 'Cannot attest: not registered', 404, { details: { status: 404 } });
    assert.deepEqual([err.code, err.errorClass, err.message, err.details], ['TEST_ERR_GONE', 'not-found', 'Cannot attest: not registered', { status: 404 }]);
  });
});
