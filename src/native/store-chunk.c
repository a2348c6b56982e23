/*
 * A chunk into the local store on libuv's thread pool, for src/core/store-chunk.ts:
 *   storeChunk(fdIn, offsetIn, length, path, digest, fdOut, offsetOut) -> Promise<bytes stored>: creates
 *     path and fills it with the range of fdIn, 256 KiB at a time, each piece read into one small buffer,
 *     hashed with BLAKE3 (blake3/, the official C code) and written from that same buffer; the digest
 *     (32 bytes) goes into `digest`. What is hashed is exactly what was written (manifest-spec.md §7).
 *     With path "", no file is created (add of a new version hashes first and stores what is new).
 *     With fdOut >= 0, each piece is also written at offsetOut of fdOut (a checkout's temp file).
 *   landChunk(buffers, path, digest, fdOut, offsetOut) -> Promise<bytes written>: the same from memory
 *     (a downloaded chunk), hashing and writing each 256 KiB piece of the buffers in turn.
 *   readChunk(fdIn, offsetIn, into, digest) -> Promise<bytes read>: reads until `into` is full or the
 *     input ends, hashing each 256 KiB piece right after reading it (a push's read of a stored chunk).
 *   writeFiles(paths, meta, data[, renames]) -> Promise<files written>: creates each file new (O_EXCL)
 *     and writes it its bytes, all in one job: `paths` is a buffer of NUL-terminated paths, `meta` holds
 *     two uint32s a file (its mode, then where its bytes end in `data`; each starts where the one before
 *     ended). With `renames` (as many paths, the same way), each file is renamed there once closed (a
 *     temp into its object's place). A pull's small files, an add's small objects: their system calls
 *     one after the other on the main thread were about half of the time. Stops at the first failure:
 *     the error has `errno` and `index`, the file's number.
 *   exchange(a, b) -> errno (0 on success): swaps two names at once (renameat2 RENAME_EXCHANGE), so a
 *     new file takes an old one's place without a rename over it (see replaceFile in store-chunk.ts).
 * Why, measured on this project's VM (docs/dependencies.md): a piece that stays in the CPU's cache from
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
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
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

napi_status napi_get_array_length(napi_env, napi_value, uint32_t *);
napi_status napi_get_element(napi_env, napi_value, uint32_t, napi_value *);

typedef struct {
  unsigned char *p;
  size_t n;
} Part;

typedef struct {
  int in;        /* the input file, or -1 when the input is `parts` (landChunk) */
  Part *parts;   /* landChunk's buffers, kept alive by `refs` */
  uint32_t nparts;
  int64_t offIn, length, stored;
  unsigned char *into; /* readChunk: the input is read straight into this caller buffer (kept alive by `refs`) */
  int fdOut;     /* a second output written at offOut (a checkout's temp file), -1 for none */
  int64_t offOut;
  int err;       /* errno of the failed call, 0 when none */
  int failedOn;  /* which side that call was on: 'r' the input, 'p' the new file at path, 'f' fdOut */
  char *path;            /* the file to create; "" for none */
  unsigned char *digest; /* the caller's 32 bytes, kept alive by `refs` */
  napi_ref refs[2];
  napi_deferred deferred;
  napi_async_work work;
} Job;

/* Writes all of buf at the file's current offset (at < 0) or at `at`, or sets *err. */
static void writeAll(int fd, const unsigned char *buf, size_t len, int64_t at, int *err) {
  while (*err == 0 && len > 0) {
    ssize_t n = at < 0 ? write(fd, buf, len) : pwrite(fd, buf, len, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) *err = n < 0 ? errno : EIO;
    else buf += n, len -= (size_t)n, at = at < 0 ? at : at + n;
  }
}

/* Hashes one piece, then writes it from the same (cache-hot) memory to each output. */
static void piece(Job *j, blake3_hasher *hasher, int out, const unsigned char *p, size_t n) {
  blake3_hasher_update(hasher, p, n);
  if (out >= 0) writeAll(out, p, n, -1, &j->err);
  if (j->err != 0) {
    j->failedOn = 'p';
    return;
  }
  if (j->fdOut >= 0) writeAll(j->fdOut, p, n, j->offOut + j->stored, &j->err);
  if (j->err != 0) j->failedOn = 'f';
  else j->stored += (int64_t)n;
}

/*
 * The job of both functions: create the file at path (unless "") and fill it with the input, 256 KiB
 * at a time, each piece hashed from the memory it is written from, and written at offOut of fdOut too
 * (unless -1). A file input stops early only where it ends (a short count: the caller decides).
 */
static void execute(napi_env env, void *data) {
  Job *j = data;
  (void)env;
  /*
   * One buffer per pool thread for the life of the process (libuv keeps 4 threads by default): a
   * malloc per chunk at this size is an mmap and munmap, whose page faults and cross-CPU TLB flushes
   * cost more here than the copying (3x the system time in a Node process).
   */
  static __thread unsigned char *buf;
  if (j->in >= 0 && j->into == NULL && buf == NULL) buf = malloc(PIECE);
  if (j->in >= 0 && j->into == NULL && buf == NULL) {
    j->err = ENOMEM;
    return;
  }
  int out = -1;
  if (j->path[0] != '\0' && (out = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
    j->err = errno, j->failedOn = 'p';
    return;
  }
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  if (j->in < 0) {
    for (uint32_t i = 0; i < j->nparts && j->err == 0; i++) {
      for (size_t at = 0; at < j->parts[i].n && j->err == 0; at += PIECE) {
        size_t n = j->parts[i].n - at < PIECE ? j->parts[i].n - at : PIECE;
        piece(j, &hasher, out, j->parts[i].p + at, n);
      }
    }
  } else {
    while (j->err == 0 && j->stored < j->length) {
      int64_t want = j->length - j->stored < PIECE ? j->length - j->stored : PIECE;
      unsigned char *at = j->into != NULL ? j->into + j->stored : buf;
      ssize_t n = pread(j->in, at, (size_t)want, j->offIn + j->stored);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) j->err = errno, j->failedOn = 'r';
      if (n <= 0) break;
      piece(j, &hasher, out, at, (size_t)n);
    }
  }
  blake3_hasher_finalize(&hasher, j->digest, BLAKE3_OUT_LEN);
  if (out >= 0 && close(out) != 0 && j->err == 0) j->err = errno, j->failedOn = 'p';
}

/* An Error with `message` and the failed call's `errno` (EIO when there was none), for a job's rejection. */
static napi_value errnoError(napi_env env, const char *message, int err) {
  napi_value msg, errnoValue, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err != 0 ? err : EIO, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  return error;
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  napi_value v;
  for (int i = 0; i < 2; i++)
    if (j->refs[i] != NULL) napi_delete_reference(env, j->refs[i]);
  free(j->path);
  free(j->parts);
  if (j->err != 0 || status != 0) {
    napi_value side, error = errnoError(env, "storing a chunk failed", j->err);
    char sideName[2] = {(char)(j->failedOn ? j->failedOn : 'p'), 0};
    napi_create_string_utf8(env, sideName, NAPI_AUTO_LENGTH, &side);
    napi_set_named_property(env, error, "side", side);
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

/* The path, digest, fdOut and offOut arguments both functions share (argv[0..3]); 0 when they are bad. */
static int outputArgs(napi_env env, napi_value *argv, Job *j) {
  size_t pathLength = 0, digestLength = 0;
  int32_t fdOut;
  double offOut;
  void *digest = NULL;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &pathLength) != 0 || napi_get_buffer_info(env, argv[1], &digest, &digestLength) != 0 ||
      digestLength != BLAKE3_OUT_LEN || napi_get_value_int32(env, argv[2], &fdOut) != 0 || fdOut < -1 || !numberArg(env, argv[3], &offOut))
    return 0;
  if ((j->path = malloc(pathLength + 1)) == NULL) return 0;
  napi_get_value_string_utf8(env, argv[0], j->path, pathLength + 1, &pathLength);
  j->digest = digest, j->fdOut = fdOut, j->offOut = (int64_t)offOut;
  napi_create_reference(env, argv[1], 1, &j->refs[0]);
  return 1;
}

static napi_value queue(napi_env env, Job *j, const char *what) {
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static napi_value refuse(napi_env env, Job *j, const char *message) {
  if (j != NULL) {
    for (int i = 0; i < 2; i++)
      if (j->refs[i] != NULL) napi_delete_reference(env, j->refs[i]);
    free(j->path), free(j->parts), free(j);
  }
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* storeChunk(fdIn, offsetIn, length, path, digest, fdOut, offsetOut) -> Promise<bytes stored>; see execute. */
static napi_value storeChunk(napi_env env, napi_callback_info info) {
  static const char usage[] = "storeChunk(fdIn, offsetIn, length, path, digest, fdOut, offsetOut) takes a file descriptor, two non-negative integers, a path, a 32-byte buffer, a file descriptor or -1 and a non-negative integer";
  size_t argc = 7;
  napi_value argv[7];
  double offIn, length;
  int32_t in;
  Job *j = calloc(1, sizeof *j);
  if (j == NULL) return refuse(env, NULL, "storeChunk: out of memory");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 7 || napi_get_value_int32(env, argv[0], &in) != 0 || in < 0 ||
      !numberArg(env, argv[1], &offIn) || !numberArg(env, argv[2], &length) || !outputArgs(env, argv + 3, j))
    return refuse(env, j, usage);
  j->in = in, j->offIn = (int64_t)offIn, j->length = (int64_t)length;
  return queue(env, j, "ckptsync.storeChunk");
}

/* readChunk(fdIn, offsetIn, into, digest) -> Promise<bytes read>: reads into the buffer, hashing each piece as it arrives. */
static napi_value readChunk(napi_env env, napi_callback_info info) {
  static const char usage[] = "readChunk(fdIn, offsetIn, into, digest) takes a file descriptor, a non-negative integer and two buffers, the second of 32 bytes";
  size_t argc = 4, intoLength = 0;
  napi_value argv[4];
  double offIn;
  int32_t in;
  void *into = NULL;
  Job *j = calloc(1, sizeof *j);
  if (j == NULL) return refuse(env, NULL, "readChunk: out of memory");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 4 || napi_get_value_int32(env, argv[0], &in) != 0 || in < 0 ||
      !numberArg(env, argv[1], &offIn) || napi_get_buffer_info(env, argv[2], &into, &intoLength) != 0)
    return refuse(env, j, usage);
  napi_value outArgs[4];
  napi_create_string_utf8(env, "", 0, &outArgs[0]);
  outArgs[1] = argv[3];
  napi_create_int32(env, -1, &outArgs[2]);
  napi_create_int32(env, 0, &outArgs[3]);
  if (!outputArgs(env, outArgs, j)) return refuse(env, j, usage);
  j->in = in, j->offIn = (int64_t)offIn, j->length = (int64_t)intoLength, j->into = into;
  napi_create_reference(env, argv[2], 1, &j->refs[1]);
  return queue(env, j, "ckptsync.readChunk");
}

/* landChunk(buffers, path, digest, fdOut, offsetOut) -> Promise<bytes written>: storeChunk from memory. */
static napi_value landChunk(napi_env env, napi_callback_info info) {
  static const char usage[] = "landChunk(buffers, path, digest, fdOut, offsetOut) takes an array of buffers, a path, a 32-byte buffer, a file descriptor or -1 and a non-negative integer";
  size_t argc = 5;
  napi_value argv[5];
  uint32_t n = 0;
  Job *j = calloc(1, sizeof *j);
  if (j == NULL) return refuse(env, NULL, "landChunk: out of memory");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 5 || napi_get_array_length(env, argv[0], &n) != 0 || !outputArgs(env, argv + 1, j))
    return refuse(env, j, usage);
  j->in = -1, j->nparts = n;
  if (n > 0 && (j->parts = calloc(n, sizeof *j->parts)) == NULL) return refuse(env, j, "landChunk: out of memory");
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    void *p = NULL;
    if (napi_get_element(env, argv[0], i, &b) != 0 || napi_get_buffer_info(env, b, &p, &j->parts[i].n) != 0) return refuse(env, j, usage);
    j->parts[i].p = p;
    j->length += (int64_t)j->parts[i].n;
  }
  napi_create_reference(env, argv[0], 1, &j->refs[1]); /* the array keeps its buffers alive */
  return queue(env, j, "ckptsync.landChunk");
}

typedef struct {
  const unsigned char *paths; /* NUL-terminated, one after the other */
  const unsigned char *renames; /* the same for where each goes once written, or NULL */
  const uint32_t *meta;       /* mode and end per file */
  const unsigned char *data;
  uint32_t n, done;
  int err;
  napi_ref refs[4]; /* paths, meta, data, renames */
  napi_deferred deferred;
  napi_async_work work;
} FilesJob;

static void executeFiles(napi_env env, void *data) {
  FilesJob *j = data;
  (void)env;
  const char *path = (const char *)j->paths;
  const char *to = (const char *)j->renames;
  uint32_t from = 0;
  for (uint32_t i = 0; i < j->n; i++) {
    uint32_t end = j->meta[2 * i + 1];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)j->meta[2 * i]);
    if (fd < 0) {
      j->err = errno;
      return;
    }
    writeAll(fd, j->data + from, end - from, -1, &j->err);
    if (close(fd) != 0 && j->err == 0) j->err = errno;
    if (j->err == 0 && to != NULL && rename(path, to) != 0) j->err = errno;
    if (j->err != 0) return;
    j->done++;
    from = end;
    path += strlen(path) + 1;
    if (to != NULL) to += strlen(to) + 1;
  }
}

static void completeFiles(napi_env env, napi_status status, void *data) {
  FilesJob *j = data;
  napi_value v;
  for (int i = 0; i < 4; i++)
    if (j->refs[i] != NULL) napi_delete_reference(env, j->refs[i]);
  if (j->err != 0 || status != 0) {
    napi_value index, error = errnoError(env, "writing a file failed", j->err);
    napi_create_int32(env, (int32_t)j->done, &index);
    napi_set_named_property(env, error, "index", index);
    napi_reject_deferred(env, j->deferred, error);
  } else {
    napi_create_double(env, (double)j->done, &v);
    napi_resolve_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

/* How many NUL-terminated, non-empty paths the buffer holds, or -1 when it is not only that. */
static int64_t pathCount(const unsigned char *p, size_t length) {
  int64_t n = 0;
  for (size_t at = 0, start = 0; at < length; at++)
    if (p[at] == 0) {
      if (at == start) return -1;
      n++, start = at + 1;
    }
  return length > 0 && p[length - 1] != 0 ? -1 : n;
}

/* writeFiles(paths, meta, data[, renames]) -> Promise<files written>; see the top of this file. */
static napi_value writeFiles(napi_env env, napi_callback_info info) {
  static const char usage[] = "writeFiles(paths, meta, data[, renames]) takes a buffer of NUL-terminated paths, a Uint32Array of two numbers a file (mode, end), a buffer of their bytes and, optionally, a buffer of as many paths";
  size_t argc = 4, pathsLength = 0, metaLength = 0, dataLength = 0, renamesLength = 0;
  napi_value argv[4], promise, name;
  void *paths = NULL, *meta = NULL, *bytes = NULL, *renames = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 3 || argc > 4 || napi_get_buffer_info(env, argv[0], &paths, &pathsLength) != 0 ||
      napi_get_buffer_info(env, argv[1], &meta, &metaLength) != 0 || napi_get_buffer_info(env, argv[2], &bytes, &dataLength) != 0 || metaLength % 8 != 0 ||
      ((uintptr_t)meta % 4) != 0 || (argc == 4 && napi_get_buffer_info(env, argv[3], &renames, &renamesLength) != 0))
    return refuse(env, NULL, usage);
  uint32_t n = (uint32_t)(metaLength / 8), from = 0;
  const uint32_t *m = meta;
  /* Each path ends in a NUL and is not empty; the ends never go back, nor past the data. */
  if (pathCount(paths, pathsLength) != (int64_t)n || (argc == 4 && pathCount(renames, renamesLength) != (int64_t)n)) return refuse(env, NULL, usage);
  for (uint32_t i = 0; i < n; i++) {
    if (m[2 * i + 1] < from || m[2 * i + 1] > dataLength) return refuse(env, NULL, usage);
    from = m[2 * i + 1];
  }
  FilesJob *j = calloc(1, sizeof *j);
  if (j == NULL) return refuse(env, NULL, "writeFiles: out of memory");
  j->paths = paths, j->meta = m, j->data = bytes, j->n = n, j->renames = argc == 4 ? renames : NULL;
  for (size_t i = 0; i < argc; i++) napi_create_reference(env, argv[i], 1, &j->refs[i]);
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "ckptsync.writeFiles", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, executeFiles, completeFiles, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Synchronous: one system call, cheaper than a trip through the thread pool. */
static napi_value exchange(napi_env env, napi_callback_info info) {
  size_t argc = 2, n = 0;
  napi_value argv[2], out;
  char a[4096], b[4096];
  int err = EINVAL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == 0 && argc == 2 &&
      napi_get_value_string_utf8(env, argv[0], a, sizeof a, &n) == 0 && n < sizeof a - 1 &&
      napi_get_value_string_utf8(env, argv[1], b, sizeof b, &n) == 0 && n < sizeof b - 1)
    err = syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0 ? 0 : errno;
  napi_create_int32(env, err, &out);
  return out;
}

/*
 * glibc's malloc, tuned for a long run of many small files: buffers of 128 KiB and more are always
 * mapped and unmapped (by default the threshold climbs to 32 MiB after the first such free, and freed
 * buffers then stay in the heap), and threads share at most two arenas. A pull of 400,000 small files
 * peaked at 233 MiB, and at 209 with this. Returns whether it applied.
 */
static napi_value tuneMalloc(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef __GLIBC__
  int ok = mallopt(M_MMAP_THRESHOLD, 128 << 10) == 1 && mallopt(M_ARENA_MAX, 2) == 1;
#else
  int ok = 0;
#endif
  napi_get_boolean(env, ok, &out);
  return out;
}

__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) { return 8; }

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "storeChunk", NAPI_AUTO_LENGTH, storeChunk, NULL, &fn);
  napi_set_named_property(env, exports, "storeChunk", fn);
  napi_create_function(env, "landChunk", NAPI_AUTO_LENGTH, landChunk, NULL, &fn);
  napi_set_named_property(env, exports, "landChunk", fn);
  napi_create_function(env, "readChunk", NAPI_AUTO_LENGTH, readChunk, NULL, &fn);
  napi_set_named_property(env, exports, "readChunk", fn);
  napi_create_function(env, "writeFiles", NAPI_AUTO_LENGTH, writeFiles, NULL, &fn);
  napi_set_named_property(env, exports, "writeFiles", fn);
  napi_create_function(env, "exchange", NAPI_AUTO_LENGTH, exchange, NULL, &fn);
  napi_set_named_property(env, exports, "exchange", fn);
  napi_create_function(env, "tuneMalloc", NAPI_AUTO_LENGTH, tuneMalloc, NULL, &fn);
  napi_set_named_property(env, exports, "tuneMalloc", fn);
  return exports;
}
