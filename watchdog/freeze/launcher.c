/*
 * fwatchdog's self-contained launcher (docs/watchdog.md, "The binary").
 *
 * A static executable with a bundle appended to it: Debian's python3, the
 * shared libraries it needs (the dynamic loader and glibc included), the parts
 * of the standard library the watchdog imports, and the watchdog itself. It
 * needs nothing from the image: no Python, no libc, no shell.
 *
 * Functions run with a read-only root and a tmpfs /tmp that Docker mounts
 * noexec, so no code may be run from a file we write. Therefore:
 * - machine code (the loader, the interpreter, its libraries, extension
 *   modules) goes into memfds at each start, copied in the kernel from this
 *   file; the bundled loader is exec'd from its memfd and maps the rest
 *   through /proc/self/fd/N (--preload: a library already loaded answers to
 *   its soname, so python3's own DT_NEEDED find them);
 * - bytecode is data: it is unpacked once per container into
 *   $TMPDIR/.fwatchdog-<id>-<uid> (the directory lockfile.py would choose) and
 *   reused by every later start: the health checks, a restart.
 *
 * The bundle, written by bundle.py (integers little-endian):
 *   entries: kind (1 byte: 'm' memfd, 'd' directory, 'f' file), mode (u32),
 *            path length (u32), data length (u64), path, data;
 *            every 'm' entry comes first
 *   trailer: magic "FWDBUNDL", offset of the first entry (u64), offset of the
 *            first 'd'/'f' entry (u64), id (16 hex digits)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAGIC "FWDBUNDL"
#define TRAILER_SIZE 40
#define ID_SIZE 16
#define MAX_ARGS 4096
#define MAX_MEMFDS 64
#define PATH 4096

static void die(const char *what) {
    fprintf(stderr, "fwatchdog: %s: %s\n", what, strerror(errno));
    exit(127);
}

static int read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Copy size bytes at the file offset of `in` to `out`, in the kernel. */
static void copy_out(int in, int out, uint64_t size, const char *what) {
    while (size > 0) {
        ssize_t put = sendfile(out, in, NULL, size > (1 << 30) ? (1 << 30) : (size_t)size);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) die(what);
        size -= (uint64_t)put;
    }
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

struct entry {
    char kind;
    uint32_t mode;
    uint64_t size;
    char path[1024];
};

/* Read one entry's head; the file offset is then at its data. */
static void read_entry(int self, struct entry *e) {
    unsigned char head[17];
    if (read_full(self, head, sizeof head) != 0) die("read the bundle");
    e->kind = (char)head[0];
    e->mode = le32(head + 1) & 0755;
    uint32_t len = le32(head + 5);
    e->size = le64(head + 9);
    if (len == 0 || len >= sizeof e->path || read_full(self, e->path, len) != 0) {
        errno = EINVAL;
        die("bad bundle entry");
    }
    e->path[len] = 0;
    /* Paths come from our own build; refuse any that could leave the directory. */
    if (e->path[0] == '/' || strstr(e->path, "..")) {
        errno = EINVAL;
        die("bad bundle path");
    }
}

/* The same rule as fwatchdog/lockfile.py's temp_dir. */
static const char *temp_dir(void) {
    static const char *names[] = {"TMPDIR", "TEMP", "TMP"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *path = getenv(names[i]);
        struct stat st;
        if (path && *path && strlen(path) < 1024 && stat(path, &st) == 0
            && S_ISDIR(st.st_mode) && access(path, W_OK | X_OK) == 0)
            return path;
    }
    return "/tmp";
}

/* A directory we may load code from: ours, not writable by others, complete. */
static int usable(const char *dir) {
    struct stat st;
    char marker[PATH];
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    if (st.st_uid != geteuid() || (st.st_mode & 022)) return 0;
    snprintf(marker, sizeof marker, "%s/.complete", dir);
    return lstat(marker, &st) == 0 && S_ISREG(st.st_mode);
}

/* Unpack the 'd' and 'f' entries from offset to end under dir. */
static void unpack(int self, uint64_t offset, uint64_t end, const char *dir) {
    char path[PATH];
    struct entry e;
    if (lseek(self, (off_t)offset, SEEK_SET) < 0) die("seek in the bundle");
    while ((uint64_t)lseek(self, 0, SEEK_CUR) < end) {
        read_entry(self, &e);
        snprintf(path, sizeof path, "%s/%s", dir, e.path);
        if (e.kind == 'd') {
            if (mkdir(path, e.mode) != 0 && errno != EEXIST) die(path);
            continue;
        }
        int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, e.mode);
        if (out < 0) die(path);
        copy_out(self, out, e.size, path);
        if (close(out) != 0) die(path);
    }
    snprintf(path, sizeof path, "%s/.complete", dir);
    int done = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (done < 0 || close(done) != 0) die(path);
}

/* Remove the copy that lost a race (a few directories, no symlinks). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (e->d_type == DT_DIR) remove_tree(path);
            else unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The directory of bytecode: reuse it, or unpack it next to its final name
 * and rename it there (a health check may be unpacking at the same time). */
static void bytecode_dir(int self, uint64_t files, uint64_t end, const char *id, char *dir) {
    const char *base = temp_dir();
    snprintf(dir, PATH, "%s/.fwatchdog-%s-%u", base, id, (unsigned)geteuid());
    if (usable(dir)) return;
    char tmp[PATH];
    snprintf(tmp, sizeof tmp, "%s/.fwatchdog-%s.XXXXXX", base, id);
    if (!mkdtemp(tmp)) die(base);
    unpack(self, files, end, tmp);
    if (chmod(tmp, 0755) != 0) die(tmp);
    if (rename(tmp, dir) == 0) return;
    if (usable(dir)) remove_tree(tmp); /* another start won: use its copy */
    else snprintf(dir, PATH, "%s", tmp); /* a stranger's name: keep ours */
}

int main(int argc, char **argv) {
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) die("open /proc/self/exe (is /proc mounted?)");
    off_t total = lseek(self, 0, SEEK_END);
    unsigned char trailer[TRAILER_SIZE];
    if (total < TRAILER_SIZE || lseek(self, total - TRAILER_SIZE, SEEK_SET) < 0
        || read_full(self, trailer, sizeof trailer) != 0 || memcmp(trailer, MAGIC, 8) != 0) {
        errno = ENOEXEC;
        die("no bundle appended to this executable");
    }
    uint64_t first = le64(trailer + 8), files = le64(trailer + 16);
    uint64_t end = (uint64_t)total - TRAILER_SIZE;
    char id[ID_SIZE + 1];
    memcpy(id, trailer + 24, ID_SIZE);
    id[ID_SIZE] = 0;

    /* Machine code into memfds: the loader's own is close-on-exec (exec'd by
     * its descriptor), the others stay open for it; the bootstrap closes them
     * to the function's processes (sets them close-on-exec). */
    int loader = -1, python = -1, nlibs = 0;
    char preload[MAX_MEMFDS * 24] = "", extensions[MAX_MEMFDS * 64] = "";
    struct entry e;
    if (lseek(self, (off_t)first, SEEK_SET) < 0) die("seek in the bundle");
    while ((uint64_t)lseek(self, 0, SEEK_CUR) < files) {
        read_entry(self, &e);
        if (e.kind != 'm' || ++nlibs > MAX_MEMFDS) {
            errno = EINVAL;
            die("bad bundle entry");
        }
        int is_loader = !strcmp(e.path, "ld.so");
        int fd = memfd_create(e.path, MFD_ALLOW_SEALING | (is_loader ? MFD_CLOEXEC : 0));
        if (fd < 0) die("memfd_create");
        copy_out(self, fd, e.size, e.path);
        /* Sealed: no one (not the function, the same user) can change the code. */
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
            die("seal a memfd");
        char item[1100];
        if (is_loader) {
            loader = fd;
        } else if (!strcmp(e.path, "python3")) {
            python = fd;
        } else if (!strncmp(e.path, "lib/", 4)) {
            snprintf(item, sizeof item, "%s/proc/self/fd/%d", *preload ? ":" : "", fd);
            strncat(preload, item, sizeof preload - strlen(preload) - 1);
        } else if (!strncmp(e.path, "ext/", 4)) {
            snprintf(item, sizeof item, "%s%s=%d", *extensions ? "," : "", e.path + 4, fd);
            strncat(extensions, item, sizeof extensions - strlen(extensions) - 1);
        }
    }
    if (loader < 0 || python < 0) {
        errno = EINVAL;
        die("bundle without a loader or an interpreter");
    }

    char dir[PATH];
    bytecode_dir(self, files, end, id, dir);
    close(self);

    char argv0[PATH], main_program[64];
    snprintf(argv0, sizeof argv0, "%s/bin/python3", dir); /* Python finds its library from here */
    snprintf(main_program, sizeof main_program, "/proc/self/fd/%d", python);
    if (argc > MAX_ARGS) {
        errno = E2BIG;
        die("arguments");
    }
    /* -I: the function's PYTHON* variables must not steer the watchdog;
     * -S: no site. Nothing goes into the environment, which the function
     * inherits. */
    char *args[MAX_ARGS + 16];
    int n = 0;
    args[n++] = "fwatchdog";
    args[n++] = "--argv0";
    args[n++] = argv0;
    args[n++] = "--preload";
    args[n++] = preload;
    args[n++] = main_program;
    args[n++] = "-I";
    args[n++] = "-S";
    args[n++] = "-c";
    args[n++] = "import _fwatchdog_boot";
    args[n++] = extensions;
    for (int i = 1; i < argc; i++) args[n++] = argv[i];
    args[n] = NULL;
    extern char **environ;
    fexecve(loader, args, environ);
    die("exec the bundled loader");
    return 127;
}
