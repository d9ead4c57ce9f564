/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's atomics: Concurrency Kit's ck_pr, plus a ThreadSanitizer
 * shim. TSan cannot see ck's inline-asm (or volatile) loads and stores, nor
 * stand-alone fences, so under -fsanitize=thread (which the race tests build
 * with CK_USE_CC_BUILTINS=1) the plain loads and stores become __atomic
 * acquire loads and release stores. That is at least as strong as the
 * fence-plus-plain-access pairs the code uses, so TSan checks the same
 * happens-before edges the comments argue for. Never changes normal builds.
 */
#ifndef BERTH_ENGINE_ATOMIC_INTERNAL_H
#define BERTH_ENGINE_ATOMIC_INTERNAL_H

#include <ck_pr.h>

#ifdef __SANITIZE_THREAD__
#define BERTH_TSAN_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define BERTH_TSAN_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#undef ck_pr_load_ptr
#undef ck_pr_load_64
#undef ck_pr_load_32
#undef ck_pr_load_int
#undef ck_pr_load_uint
#undef ck_pr_load_8
#undef ck_pr_store_ptr
#undef ck_pr_store_64
#undef ck_pr_store_32
#undef ck_pr_store_int
#undef ck_pr_store_uint
#define ck_pr_load_ptr(p) ((void *)BERTH_TSAN_LOAD(p))
#define ck_pr_load_64(p) BERTH_TSAN_LOAD(p)
#define ck_pr_load_32(p) BERTH_TSAN_LOAD(p)
#define ck_pr_load_int(p) BERTH_TSAN_LOAD(p)
#define ck_pr_load_uint(p) BERTH_TSAN_LOAD(p)
#define ck_pr_load_8(p) BERTH_TSAN_LOAD(p)
#define ck_pr_store_ptr(p, v) BERTH_TSAN_STORE((p), (v))
#define ck_pr_store_64(p, v) BERTH_TSAN_STORE((p), (v))
#define ck_pr_store_32(p, v) BERTH_TSAN_STORE((p), (v))
#define ck_pr_store_int(p, v) BERTH_TSAN_STORE((p), (v))
#define ck_pr_store_uint(p, v) BERTH_TSAN_STORE((p), (v))
/* ck's generic read-modify-writes are partly CAS loops over volatile loads. */
#undef ck_pr_fas_ptr
#undef ck_pr_fas_int
#undef ck_pr_fas_uint
#undef ck_pr_inc_64
#undef ck_pr_dec_64
#undef ck_pr_inc_int
#undef ck_pr_dec_int
#undef ck_pr_faa_64
#undef ck_pr_faa_32
#undef ck_pr_faa_int
#undef ck_pr_faa_uint
#undef ck_pr_faa_8
#define ck_pr_fas_ptr(p, v) ((void *)__atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST))
#define ck_pr_fas_int(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define ck_pr_fas_uint(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define ck_pr_inc_64(p) ((void)__atomic_fetch_add((p), 1, __ATOMIC_SEQ_CST))
#define ck_pr_dec_64(p) ((void)__atomic_fetch_sub((p), 1, __ATOMIC_SEQ_CST))
#define ck_pr_inc_int(p) ((void)__atomic_fetch_add((p), 1, __ATOMIC_SEQ_CST))
#define ck_pr_dec_int(p) ((void)__atomic_fetch_sub((p), 1, __ATOMIC_SEQ_CST))
#define ck_pr_faa_64(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define ck_pr_faa_32(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define ck_pr_faa_int(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define ck_pr_faa_uint(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define ck_pr_faa_8(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#endif

#include <ck_spinlock.h>

#endif
