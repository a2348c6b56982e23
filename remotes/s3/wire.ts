// Wire types of the S3 driver: the shape of the SDK's errors (and of the data path's answers, made to
// look the same) and how much of an error answer is read. Configuration is in config.ts, the mapping of
// errors onto ckptsync's typed errors in errors.ts.

/** The shape of errors thrown by the SDK (S3ServiceException) and by its HTTP transport. */
export interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** How much of an error answer's body is read for its <Code> and <Message>: S3's are a few hundred bytes. */
export const ERROR_BODY_LIMIT = 16 << 10;
