;; Core module of the image-like benchmark component (image.wit). Lists come in through a bump
;; allocator (cabi_realloc); each transform works in place on the lowered input and returns
;; its (pointer, length) pair from a fixed return area.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $at i32) (local $end i32) (local $pages i32)
    ;; align the bump pointer up
    (local.set $at
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $at) (local.get $size)))
    ;; grow by whole pages until the new end fits
    (local.set $pages (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (unreachable)))))
    (global.set $heap (local.get $end))
    (if (local.get $old_size)
      (then (memory.copy (local.get $at) (local.get $old) (local.get $old_size))))
    (local.get $at))
  (func $ret (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (i32.const 0))
  (func (export "invert") (param $p i32) (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $p) (local.get $i))
          (i32.sub (i32.const 255) (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $ret (local.get $p) (local.get $n)))
  (func (export "brighten") (param $p i32) (param $n i32) (param $amount i32) (result i32)
    (local $i i32) (local $v i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (i32.add (i32.load8_u (i32.add (local.get $p) (local.get $i))) (local.get $amount)))
        (if (i32.lt_s (local.get $v) (i32.const 0)) (then (local.set $v (i32.const 0))))
        (if (i32.gt_s (local.get $v) (i32.const 255)) (then (local.set $v (i32.const 255))))
        (i32.store8 (i32.add (local.get $p) (local.get $i)) (local.get $v))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $ret (local.get $p) (local.get $n)))
  (func (export "blur") (param $p i32) (param $n i32) (result i32)
    (local $i i32) (local $prev i32) (local $cur i32) (local $next i32)
    (if (i32.eqz (local.get $n)) (then (return (call $ret (local.get $p) (i32.const 0)))))
    (local.set $prev (i32.load8_u (local.get $p)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $cur (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (local.set $next
          (if (result i32) (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))
            (then (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $i) (i32.const 1)))))
            (else (local.get $cur))))
        (i32.store8 (i32.add (local.get $p) (local.get $i))
          (i32.div_u (i32.add (local.get $prev) (i32.add (local.get $cur) (local.get $next))) (i32.const 3)))
        (local.set $prev (local.get $cur))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step)))
    (call $ret (local.get $p) (local.get $n)))
  (func (export "checksum") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $s i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (i64.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $s))
  (func (export "cabi_post_invert") (param i32))
  (func (export "cabi_post_brighten") (param i32))
  (func (export "cabi_post_blur") (param i32)))
