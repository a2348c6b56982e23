// Wire types of the Backblaze B2 native API, version 2 (https://www.backblaze.com/apidocs), the
// subset this driver uses. Every call goes to /b2api/v2/<name>; field names are B2's.

export const B2_API_VERSION = 'v2';

/** b2_authorize_account */
export interface AuthorizeResponse {
  accountId: string;
  authorizationToken: string;
  apiUrl: string;
  downloadUrl: string;
  recommendedPartSize: number;
  absoluteMinimumPartSize: number;
  /** What the application key may touch: a key restricted to one bucket names it here. */
  allowed?: { bucketId?: string | null; bucketName?: string | null; capabilities?: string[]; namePrefix?: string | null };
}

/** b2_list_buckets */
export interface ListBucketsResponse {
  buckets: { bucketId: string; bucketName: string; bucketType?: string }[];
}

/** b2_get_upload_url and b2_get_upload_part_url: one URL+token serves one upload at a time. */
export interface UploadUrlResponse {
  uploadUrl: string;
  authorizationToken: string;
  bucketId?: string;
  fileId?: string;
}

export type FileAction = 'upload' | 'hide' | 'start' | 'folder';

/** A file version as B2 returns it from uploads and listings. */
export interface FileVersion {
  fileId: string;
  fileName: string;
  action: FileAction;
  contentLength: number;
  contentSha1?: string | null;
  contentType?: string;
  fileInfo: Record<string, string>;
  /** Milliseconds since the epoch. */
  uploadTimestamp: number;
}

/** b2_list_file_names */
export interface ListFileNamesResponse {
  files: FileVersion[];
  nextFileName: string | null;
}

/** b2_list_file_versions: names ascending, and the versions of one name newest first. */
export interface ListFileVersionsResponse {
  files: FileVersion[];
  nextFileName: string | null;
  nextFileId: string | null;
}

/** b2_start_large_file */
export interface StartLargeFileResponse {
  fileId: string;
  fileName: string;
}

/** Every B2 error response body. */
export interface ErrorBody {
  status: number;
  code: string;
  message: string;
}

/** File-info keys (sent as X-Bz-Info-<key>) that carry the document chain of swapDocument (README.md). */
export const INFO_PREV = 'ckpt-prev';
export const INFO_SWAP_ID = 'ckpt-swap';
/** The `prev` of a version written by a create-only swap. */
export const PREV_NONE = 'none';
