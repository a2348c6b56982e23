/*
 * copy_file_range(2) on libuv's thread pool, for src/core/copy-range.ts:
 *   storeRange(fdIn, offsetIn, length, path, buffer) -> Promise<bytes stored>: creates path, copies the
 *     range into it and reads back what landed there into buffer, in one job (add's store-by-copy.ts
 *     hashes that buffer); where the kernel refuses (EXDEV, ENOSYS, EOPNOTSUPP, EINVAL) it reads the
 *     range into buffer and writes it instead.
 * The kernel copies page to page; on the machines we measured, a write(2) from user memory cost 3-7x the
 * system time per byte (README, "Dependencies"), and the local store's copy of a checkpoint is most of
 * what `add` does.
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
  int in, out;
  int64_t offIn, length, copied;
  int err; /* errno of the failed call, 0 when none */
  char *path;         /* the file to create */
  unsigned char *buf; /* the caller's buffer, kept alive by `ref` */
  napi_ref ref;
  napi_deferred deferred;
  napi_async_work work;
} Job;

/* Copies until `length` bytes are done or the input ends (a short count: the caller decides). */
static void copyRange(Job *j) {
  loff_t in = j->offIn, out = 0;
  while (j->copied < j->length) {
    ssize_t n = copy_file_range(j->in, &in, j->out, &out, (size_t)(j->length - j->copied), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { j->err = errno; return; }
    if (n == 0) return;
    j->copied += n;
  }
}

/* Reads up to len bytes of fd at off into buf; returns how many (fewer only at the end of the file). */
static int64_t readUpTo(int fd, unsigned char *buf, int64_t len, int64_t off, int *err) {
  int64_t got = 0;
  while (*err == 0 && got < len) {
    ssize_t n = pread(fd, buf + got, (size_t)(len - got), off + got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) *err = errno;
    else if (n == 0) break;
    else got += n;
  }
  return got;
}

static int unsupported(int err) { return err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL; }

/*
 * storeRange's job: create the file, copy the range into it, and read back what landed there into the
 * caller's buffer. Where the kernel cannot copy between these files, the range is read into the buffer
 * and written from it instead. Either way the buffer ends up holding the new file's bytes.
 */
static void executeStore(napi_env env, void *data) {
  Job *j = data;
  (void)env;
  j->out = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (j->out < 0) { j->err = errno; return; }
  copyRange(j);
  if (j->err != 0 && unsupported(j->err)) {
    j->err = 0;
    if (ftruncate(j->out, 0) != 0) j->err = errno;
    j->copied = readUpTo(j->in, j->buf, j->length, j->offIn, &j->err);
    for (int64_t done = 0; j->err == 0 && done < j->copied;) {
      ssize_t n = pwrite(j->out, j->buf + done, (size_t)(j->copied - done), done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) j->err = n < 0 ? errno : EIO;
      else done += n;
    }
  } else if (j->err == 0 && readUpTo(j->out, j->buf, j->copied, 0, &j->err) < j->copied && j->err == 0) {
    j->err = EIO; /* the copy is shorter than the kernel said */
  }
  if (close(j->out) != 0 && j->err == 0) j->err = errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  napi_value v;
  if (j->ref != NULL) napi_delete_reference(env, j->ref);
  free(j->path);
  if (j->err != 0 || status != 0) {
    napi_value msg, errnoValue, error;
    napi_create_string_utf8(env, "copy_file_range failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_create_int32(env, j->err != 0 ? j->err : EIO, &errnoValue);
    napi_set_named_property(env, error, "errno", errnoValue);
    napi_reject_deferred(env, j->deferred, error);
  } else {
    napi_create_double(env, (double)j->copied, &v);
    napi_resolve_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static int numberArg(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == 0 && *out >= 0 && *out <= 9007199254740991.0 && *out == (double)(int64_t)*out;
}

/* storeRange(fdIn, offsetIn, length, path, buffer) -> Promise<bytes stored>; see executeStore. */
static napi_value storeRange(napi_env env, napi_callback_info info) {
  size_t argc = 5, pathLength = 0, bufLength = 0;
  napi_value argv[5], promise, name;
  double offIn, length;
  int32_t in;
  void *buf = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 5 || napi_get_value_int32(env, argv[0], &in) != 0 ||
      !numberArg(env, argv[1], &offIn) || !numberArg(env, argv[2], &length) ||
      napi_get_value_string_utf8(env, argv[3], NULL, 0, &pathLength) != 0 || pathLength == 0 ||
      napi_get_buffer_info(env, argv[4], &buf, &bufLength) != 0 || length > (double)bufLength) {
    napi_throw_type_error(env, NULL, "storeRange(fdIn, offsetIn, length, path, buffer) takes a file descriptor, two non-negative integers, a path and a buffer of at least length bytes");
    return NULL;
  }
  Job *j = calloc(1, sizeof *j);
  char *path = malloc(pathLength + 1);
  if (j == NULL || path == NULL) {
    free(j), free(path);
    napi_throw_type_error(env, NULL, "storeRange: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[3], path, pathLength + 1, &pathLength);
  j->in = in, j->offIn = (int64_t)offIn, j->length = (int64_t)length, j->path = path, j->buf = buf;
  napi_create_reference(env, argv[4], 1, &j->ref);
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "ckptsync.storeRange", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, executeStore, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) { return 8; }

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "storeRange", NAPI_AUTO_LENGTH, storeRange, NULL, &fn);
  napi_set_named_property(env, exports, "storeRange", fn);
  return exports;
}
