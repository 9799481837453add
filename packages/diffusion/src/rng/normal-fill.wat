;; torch's `normal_fill_AVX2` (aten/src/ATen/native/cpu/DistributionKernels.cpp) for Kiln's
;; TorchCpuGenerator, bit for bit: MT19937 uniforms, then Box–Muller on blocks of 16 with the AVX2
;; Cephes log and sincos (aten/src/ATen/native/cpu/avx_mathfun.h) on float32 lanes, four at a time.
;; The TypeScript lane versions in avx-mathfun.ts are the readable reference; every operation here
;; is the same operation on f32x4, and normal-fill.test.ts checks the two agree bit for bit.
;;
;; Fused multiply-adds: torch's build fuses some multiply/add pairs (see avx-mathfun.ts). WebAssembly
;; has no deterministic fma, so $fma computes a*b exactly in float64, adds c in float64 and rounds to
;; float32. That double rounding is wrong only when the float64 sum lies exactly halfway between two
;; float32 values (or the result is subnormal); $fma then marks the block "unsure", the block is left
;; as uniforms and TypeScript recomputes it with its exact fmaf32 (about one block in 3,000).
;;
;; Memory: [0, 32) scratch, [64, 2560) the MT19937 state (624 words), [2560, 6656) the indices of
;; unsure blocks, [8192, 73728) the data: up to 1,024 blocks of 16 float32 per call.
(module
  (memory (export "memory") 2)
  (global $unsure (mut v128) (v128.const i64x2 0 0))
  (global $cosine (mut v128) (v128.const i64x2 0 0))
  ;; The index of the next MT19937 state word to temper (624: regenerate first).
  (global $mtNext (export "mtNext") (mut i32) (i32.const 624))

  ;; ---- MT19937, as Mt19937 in mt19937.ts ----------------------------------------------------

  ;; One word of the twist: state[k] from state[k], state[k + 1] and state[k + 397] (indices mod 624).
  (func $twist (param $k i32) (param $following i32) (param $shifted i32)
    (local $p i32) (local $word i32)
    (local.set $p (i32.add (i32.const 64) (i32.shl (local.get $k) (i32.const 2))))
    (local.set $word (i32.load (i32.add (i32.const 64) (i32.shl (local.get $following) (i32.const 2)))))
    (i32.store (local.get $p)
      (i32.xor
        (i32.xor
          (i32.load (i32.add (i32.const 64) (i32.shl (local.get $shifted) (i32.const 2))))
          (i32.shr_u
            (i32.or (i32.and (i32.load (local.get $p)) (i32.const 0x80000000)) (i32.and (local.get $word) (i32.const 0x7fffffff)))
            (i32.const 1)))
        (i32.and (i32.sub (i32.const 0) (i32.and (local.get $word) (i32.const 1))) (i32.const 0x9908b0df)))))

  ;; Refills all 624 state words at once, as Mt19937.regenerate.
  (func $regenerate
    (local $k i32)
    (loop $low
      (call $twist (local.get $k) (i32.add (local.get $k) (i32.const 1)) (i32.add (local.get $k) (i32.const 397)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $low (i32.lt_u (local.get $k) (i32.const 227))))
    (loop $high
      (call $twist (local.get $k) (i32.add (local.get $k) (i32.const 1)) (i32.sub (local.get $k) (i32.const 227)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $high (i32.lt_u (local.get $k) (i32.const 623))))
    (call $twist (i32.const 623) (i32.const 0) (i32.const 396)))

  ;; Fills [$from, $to) with `uniform_real_distribution<float>(0, 1)` draws: the low 24 bits of one
  ;; tempered output times 2^-24 each, continuing from state word $mtNext.
  (func $uniforms (param $from i32) (param $to i32)
    (local $next i32) (local $y i32)
    (local.set $next (global.get $mtNext))
    (block $filled (loop $draw
      (br_if $filled (i32.ge_u (local.get $from) (local.get $to)))
      (if (i32.ge_u (local.get $next) (i32.const 624))
        (then (call $regenerate) (local.set $next (i32.const 0))))
      (local.set $y (i32.load (i32.add (i32.const 64) (i32.shl (local.get $next) (i32.const 2)))))
      (local.set $next (i32.add (local.get $next) (i32.const 1)))
      (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 11))))
      (local.set $y (i32.xor (local.get $y) (i32.and (i32.shl (local.get $y) (i32.const 7)) (i32.const 0x9d2c5680))))
      (local.set $y (i32.xor (local.get $y) (i32.and (i32.shl (local.get $y) (i32.const 15)) (i32.const 0xefc60000))))
      (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 18))))
      (f32.store (local.get $from)
        (f32.mul (f32.convert_i32_u (i32.and (local.get $y) (i32.const 0xffffff))) (f32.const 0x1p-24)))
      (local.set $from (i32.add (local.get $from) (i32.const 4)))
      (br $draw)))
    (global.set $mtNext (local.get $next)))

  ;; ---- Cephes on four float32 lanes ---------------------------------------------------------

  (func $fma (param $a v128) (param $b v128) (param $c v128) (result v128)
    (local $low v128) (local $high v128) (local $rounded v128)
    (local.set $low (f64x2.add
      (f64x2.mul (f64x2.promote_low_f32x4 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $b)))
      (f64x2.promote_low_f32x4 (local.get $c))))
    (local.set $high (f64x2.add
      (f64x2.mul
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $a) (local.get $a)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $b) (local.get $b))))
      (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c) (local.get $c)))))
    (local.set $rounded (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero (local.get $low)) (f32x4.demote_f64x2_zero (local.get $high))))
    ;; A float64 is a float32 midpoint when its 29 dropped mantissa bits are 1 and 28 zeros.
    (global.set $unsure (v128.or (global.get $unsure) (v128.or (v128.or
      (i64x2.eq (v128.and (local.get $low) (v128.const i64x2 0x1fffffff 0x1fffffff)) (v128.const i64x2 0x10000000 0x10000000))
      (i64x2.eq (v128.and (local.get $high) (v128.const i64x2 0x1fffffff 0x1fffffff)) (v128.const i64x2 0x10000000 0x10000000)))
      (f32x4.lt (f32x4.abs (local.get $rounded)) (f32x4.splat (f32.const 0x1p-126))))))
    (local.get $rounded))

  ;; log256_ps, as logAvx2 (x > 0).
  (func $log (param $x v128) (result v128)
    (local $m v128) (local $below v128) (local $exponent v128) (local $z v128) (local $y v128)
    (local.set $x (f32x4.max (local.get $x) (f32x4.splat (f32.const 0x1p-126))))
    (local.set $m (v128.or (v128.and (local.get $x) (i32x4.splat (i32.const 0x807fffff)))
                           (i32x4.splat (i32.const 0x3f000000))))
    ;; Cephes: if m < sqrt(1/2) { e -= 1; m = 2m - 1 } else { m = m - 1 }.
    (local.set $below (f32x4.lt (local.get $m) (f32x4.splat (f32.const 0.707106781186547524))))
    (local.set $exponent (f32x4.convert_i32x4_s (i32x4.add
      (i32x4.sub (i32x4.shr_u (local.get $x) (i32.const 23)) (i32x4.splat (i32.const 126)))
      (local.get $below))))
    (local.set $m (f32x4.add (f32x4.sub (local.get $m) (f32x4.splat (f32.const 1)))
                             (v128.and (local.get $m) (local.get $below))))
    (local.set $z (f32x4.mul (local.get $m) (local.get $m)))
    (local.set $y (call $fma (f32x4.splat (f32.const 7.0376836292e-2)) (local.get $m) (f32x4.splat (f32.const -1.151461031e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const 1.167699874e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const -1.2420140846e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const 1.4249322787e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const -1.6668057665e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const 2.0000714765e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const -2.4999993993e-1))))
    (local.set $y (call $fma (local.get $y) (local.get $m) (f32x4.splat (f32.const 3.3333331174e-1))))
    (local.set $y (f32x4.mul (local.get $y) (local.get $m)))
    (local.set $y (call $fma (local.get $y) (local.get $z)
      (f32x4.mul (local.get $exponent) (f32x4.splat (f32.const -2.1219444e-4)))))
    (local.set $y (f32x4.sub (local.get $y) (f32x4.mul (local.get $z) (f32x4.splat (f32.const 0.5)))))
    (f32x4.add (f32x4.add (local.get $m) (local.get $y))
               (f32x4.mul (local.get $exponent) (f32x4.splat (f32.const 0.693359375)))))

  ;; sincos256_ps, as sincosAvx2: returns sin(x) and leaves cos(x) in $cosine.
  (func $sincos (param $x v128) (result v128)
    (local $octant v128) (local $j v128) (local $flipSin v128) (local $flipCos v128) (local $sinPolyIsSin v128)
    (local $z v128) (local $cosPoly v128) (local $sinPoly v128)
    ;; j = (trunc(|x| * 4/π) + 1) & ~1; the sign flips are sign-bit masks.
    (local.set $octant (v128.and
      (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.mul (f32x4.abs (local.get $x)) (f32x4.splat (f32.const 1.27323954473516))))
                 (i32x4.splat (i32.const 1)))
      (i32x4.splat (i32.const -2))))
    (local.set $flipSin (v128.xor (v128.and (local.get $x) (i32x4.splat (i32.const 0x80000000)))
                                  (i32x4.shl (v128.and (local.get $octant) (i32x4.splat (i32.const 4))) (i32.const 29))))
    (local.set $flipCos (i32x4.shl (v128.andnot (i32x4.splat (i32.const 4)) (i32x4.sub (local.get $octant) (i32x4.splat (i32.const 2))))
                                   (i32.const 29)))
    (local.set $sinPolyIsSin (i32x4.eq (v128.and (local.get $octant) (i32x4.splat (i32.const 2))) (i32x4.splat (i32.const 0))))
    (local.set $j (f32x4.convert_i32x4_s (local.get $octant)))
    (local.set $x (f32x4.abs (local.get $x)))
    (local.set $x (call $fma (local.get $j) (f32x4.splat (f32.const -0.78515625)) (local.get $x)))
    (local.set $x (call $fma (local.get $j) (f32x4.splat (f32.const -2.4187564849853515625e-4)) (local.get $x)))
    (local.set $x (call $fma (local.get $j) (f32x4.splat (f32.const -3.77489497744594108e-8)) (local.get $x)))
    (local.set $z (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $cosPoly (call $fma (f32x4.splat (f32.const 2.443315711809948e-5)) (local.get $z) (f32x4.splat (f32.const -1.388731625493765e-3))))
    (local.set $cosPoly (call $fma (local.get $cosPoly) (local.get $z) (f32x4.splat (f32.const 4.166664568298827e-2))))
    (local.set $cosPoly (f32x4.mul (local.get $cosPoly) (local.get $z)))
    (local.set $cosPoly (call $fma (local.get $cosPoly) (local.get $z)
      (f32x4.neg (f32x4.mul (local.get $z) (f32x4.splat (f32.const 0.5))))))
    (local.set $cosPoly (f32x4.add (local.get $cosPoly) (f32x4.splat (f32.const 1))))
    (local.set $sinPoly (call $fma (f32x4.splat (f32.const -1.9515295891e-4)) (local.get $z) (f32x4.splat (f32.const 8.3321608736e-3))))
    (local.set $sinPoly (call $fma (local.get $sinPoly) (local.get $z) (f32x4.splat (f32.const -1.6666654611e-1))))
    (local.set $sinPoly (f32x4.mul (local.get $sinPoly) (local.get $z)))
    (local.set $sinPoly (call $fma (local.get $sinPoly) (local.get $x) (local.get $x)))
    (global.set $cosine (v128.xor (v128.bitselect (local.get $cosPoly) (local.get $sinPoly) (local.get $sinPolyIsSin)) (local.get $flipCos)))
    (v128.xor (v128.bitselect (local.get $sinPoly) (local.get $cosPoly) (local.get $sinPolyIsSin)) (local.get $flipSin)))

  ;; normal_fill_16_AVX2 on four lanes: uniforms u at $first, t at $second become r·cos and r·sin,
  ;; with r = sqrt(-2 log(1 - u)) and θ = 2π t, written to scratch [0, 16) and [16, 32).
  (func $boxMuller4 (param $first i32) (param $second i32)
    (local $radius v128) (local $sin v128)
    (local.set $radius (f32x4.sqrt (f32x4.mul (f32x4.splat (f32.const -2))
      (call $log (f32x4.sub (f32x4.splat (f32.const 1)) (v128.load (local.get $first)))))))
    (local.set $sin (call $sincos (f32x4.mul (f32x4.splat (f32.const 6.2831854820251465)) (v128.load (local.get $second)))))
    ;; `fmadd(n, std 1, mean 0)`: n itself, except that -0 becomes +0.
    (v128.store (i32.const 0) (f32x4.add (f32x4.mul (local.get $radius) (global.get $cosine)) (f32x4.splat (f32.const 0))))
    (v128.store (i32.const 16) (f32x4.add (f32x4.mul (local.get $radius) (local.get $sin)) (f32x4.splat (f32.const 0)))))

  ;; Draws `blocks` × 16 uniforms from the state at [64, 2560) starting at word `next` into the data
  ;; area and turns each block into normals in place; unsure blocks stay uniforms and their indices
  ;; go to [2560, …). Returns how many are unsure; the state's next word is left in $mtNext.
  (func (export "normalBlocks") (param $next i32) (param $blocks i32) (result i32)
    (local $block i32) (local $p i32) (local $unsureCount i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (global.set $mtNext (local.get $next))
    (call $uniforms (i32.const 8192) (i32.add (i32.const 8192) (i32.shl (local.get $blocks) (i32.const 6))))
    (block $done (loop $next_block
      (br_if $done (i32.ge_u (local.get $block) (local.get $blocks)))
      (local.set $p (i32.add (i32.const 8192) (i32.shl (local.get $block) (i32.const 6))))
      (global.set $unsure (v128.const i64x2 0 0))
      (call $boxMuller4 (local.get $p) (i32.add (local.get $p) (i32.const 32)))
      (local.set $a (v128.load (i32.const 0)))
      (local.set $c (v128.load (i32.const 16)))
      (call $boxMuller4 (i32.add (local.get $p) (i32.const 16)) (i32.add (local.get $p) (i32.const 48)))
      (local.set $b (v128.load (i32.const 0)))
      (local.set $d (v128.load (i32.const 16)))
      (if (v128.any_true (global.get $unsure))
        (then
          (i32.store (i32.add (i32.const 2560) (i32.shl (local.get $unsureCount) (i32.const 2))) (local.get $block))
          (local.set $unsureCount (i32.add (local.get $unsureCount) (i32.const 1))))
        (else
          (v128.store (local.get $p) (local.get $a))
          (v128.store offset=16 (local.get $p) (local.get $b))
          (v128.store offset=32 (local.get $p) (local.get $c))
          (v128.store offset=48 (local.get $p) (local.get $d))))
      (local.set $block (i32.add (local.get $block) (i32.const 1)))
      (br $next_block)))
    (local.get $unsureCount))
)
