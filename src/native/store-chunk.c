/*
 * A chunk into the local store on libuv's thread pool, for src/core/store-chunk.ts:
 *   storeChunk(fdIn, offsetIn, length, path, digest) -> Promise<bytes stored>: creates path and fills
 *     it with the range of fdIn, 256 KiB at a time, each piece read into one small buffer, hashed with
 *     BLAKE3 (blake3/, the official C code) and written from that same buffer; the digest (32 bytes)
 *     goes into `digest`. What is hashed is exactly what was written (manifest-spec.md §7).
 *   With path "", only hashes the range (add of a new version hashes first and stores what is new).
 * Why, measured on this project's VM (README, "Dependencies"): a piece that stays in the CPU's cache from
 * read to hash to write costs what the kernel's own copy costs (1 GiB as 4 MiB chunks on 4 threads:
 * 0.40-0.52 s with the hash, cp 0.37-0.48 s), where 4 MiB writes from user memory cost 3-4x that, and
 * both cores hash instead of the main thread.
 *
 * Node-API is a stable C ABI, so the few declarations needed are written out here: the addon builds
 * with a C compiler alone, without Node's headers (scripts/build-native.ts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>
#include "blake3/blake3.h"

/* Bytes per read, hash and write: small enough to stay in the CPU's cache between the three. */
#define PIECE (256 * 1024)

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_deferred__ *napi_deferred;
typedef struct napi_async_work__ *napi_async_work;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok is 0 */
typedef napi_value (*napi_callback)(napi_env, napi_callback_info);
typedef void (*napi_async_execute_callback)(napi_env, void *);
typedef void (*napi_async_complete_callback)(napi_env, napi_status, void *);
#define NAPI_AUTO_LENGTH ((size_t)-1)

napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
napi_status napi_get_value_double(napi_env, napi_value, double *);
napi_status napi_create_promise(napi_env, napi_deferred *, napi_value *);
napi_status napi_resolve_deferred(napi_env, napi_deferred, napi_value);
napi_status napi_reject_deferred(napi_env, napi_deferred, napi_value);
napi_status napi_create_double(napi_env, double, napi_value *);
napi_status napi_create_int32(napi_env, int32_t, napi_value *);
napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
napi_status napi_create_error(napi_env, napi_value, napi_value, napi_value *);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
napi_status napi_create_async_work(napi_env, napi_value, napi_value, napi_async_execute_callback, napi_async_complete_callback, void *, napi_async_work *);
napi_status napi_queue_async_work(napi_env, napi_async_work);
napi_status napi_delete_async_work(napi_env, napi_async_work);
napi_status napi_throw_type_error(napi_env, const char *, const char *);
napi_status napi_get_value_string_utf8(napi_env, napi_value, char *, size_t, size_t *);
napi_status napi_get_buffer_info(napi_env, napi_value, void **, size_t *);
typedef struct napi_ref__ *napi_ref;
napi_status napi_create_reference(napi_env, napi_value, uint32_t, napi_ref *);
napi_status napi_delete_reference(napi_env, napi_ref);

typedef struct {
  int in;
  int64_t offIn, length, stored;
  int err;       /* errno of the failed call, 0 when none */
  int readFailed; /* whether that call read the input (else it made or wrote the new file) */
  char *path;            /* the file to create; "" to only hash */
  unsigned char *digest; /* the caller's 32 bytes, kept alive by `ref` */
  napi_ref ref;
  napi_deferred deferred;
  napi_async_work work;
} Job;

/* Writes all of buf at the file's current offset, or sets *err. */
static void writeAll(int fd, const unsigned char *buf, size_t len, int *err) {
  while (*err == 0 && len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) *err = n < 0 ? errno : EIO;
    else buf += n, len -= (size_t)n;
  }
}

/*
 * storeChunk's job: create the file and fill it with up to `length` bytes of the input from offIn,
 * hashing each piece from the buffer it is written from. Stops early only where the input ends (a short
 * count: the caller decides).
 */
static void executeStore(napi_env env, void *data) {
  Job *j = data;
  (void)env;
  /*
   * One buffer per pool thread for the life of the process (libuv keeps 4 threads by default): a
   * malloc per chunk at this size is an mmap and munmap, whose page faults and cross-CPU TLB flushes
   * cost more here than the copying (3x the system time in a Node process).
   */
  static __thread unsigned char *buf;
  if (buf == NULL) buf = malloc(PIECE);
  if (buf == NULL) {
    j->err = ENOMEM;
    return;
  }
  int hashOnly = j->path[0] == '\0', out = -1;
  if (!hashOnly && (out = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
    j->err = errno;
    return;
  }
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  while (j->err == 0 && j->stored < j->length) {
    int64_t want = j->length - j->stored < PIECE ? j->length - j->stored : PIECE;
    ssize_t n = pread(j->in, buf, (size_t)want, j->offIn + j->stored);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) j->err = errno, j->readFailed = 1;
    if (n <= 0) break;
    blake3_hasher_update(&hasher, buf, (size_t)n);
    if (!hashOnly) writeAll(out, buf, (size_t)n, &j->err);
    if (j->err == 0) j->stored += n;
  }
  blake3_hasher_finalize(&hasher, j->digest, BLAKE3_OUT_LEN);
  if (!hashOnly && close(out) != 0 && j->err == 0) j->err = errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  napi_value v;
  if (j->ref != NULL) napi_delete_reference(env, j->ref);
  free(j->path);
  if (j->err != 0 || status != 0) {
    napi_value msg, errnoValue, syscall, error;
    napi_create_string_utf8(env, "storing a chunk failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_create_int32(env, j->err != 0 ? j->err : EIO, &errnoValue);
    napi_set_named_property(env, error, "errno", errnoValue);
    napi_create_string_utf8(env, j->readFailed ? "read" : "write", NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, error, "syscall", syscall);
    napi_reject_deferred(env, j->deferred, error);
  } else {
    napi_create_double(env, (double)j->stored, &v);
    napi_resolve_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static int numberArg(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == 0 && *out >= 0 && *out <= 9007199254740991.0 && *out == (double)(int64_t)*out;
}

/* storeChunk(fdIn, offsetIn, length, path, digest) -> Promise<bytes stored>; see executeStore. */
static napi_value storeChunk(napi_env env, napi_callback_info info) {
  size_t argc = 5, pathLength = 0, digestLength = 0;
  napi_value argv[5], promise, name;
  double offIn, length;
  int32_t in;
  void *digest = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 5 || napi_get_value_int32(env, argv[0], &in) != 0 ||
      !numberArg(env, argv[1], &offIn) || !numberArg(env, argv[2], &length) ||
      napi_get_value_string_utf8(env, argv[3], NULL, 0, &pathLength) != 0 ||
      napi_get_buffer_info(env, argv[4], &digest, &digestLength) != 0 || digestLength != BLAKE3_OUT_LEN) {
    napi_throw_type_error(env, NULL, "storeChunk(fdIn, offsetIn, length, path, digest) takes a file descriptor, two non-negative integers, a path and a 32-byte buffer");
    return NULL;
  }
  Job *j = calloc(1, sizeof *j);
  char *path = malloc(pathLength + 1);
  if (j == NULL || path == NULL) {
    free(j), free(path);
    napi_throw_type_error(env, NULL, "storeChunk: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[3], path, pathLength + 1, &pathLength);
  j->in = in, j->offIn = (int64_t)offIn, j->length = (int64_t)length, j->path = path, j->digest = digest;
  napi_create_reference(env, argv[4], 1, &j->ref);
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "ckptsync.storeChunk", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, executeStore, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) { return 8; }

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "storeChunk", NAPI_AUTO_LENGTH, storeChunk, NULL, &fn);
  napi_set_named_property(env, exports, "storeChunk", fn);
  return exports;
}
