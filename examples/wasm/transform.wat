;; The transform component's core module. The canonical ABI passes the response record flat:
;; status, headers (pointer, length), body.value. The host copies the header strings in through
;; cabi_realloc, a bump allocator here (the instance lives for one call).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32)
    ;; round the heap up to the alignment
    (local.set $p
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    ;; grow when the heap passes the end of memory
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow
                (i32.add (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
              (i32.const 0))
          (then unreachable))))
    (local.get $p))
  (func (export "next-value") (param $status i32) (param $headers i32) (param $count i32) (param $value i32) (result i32)
    (if (result i32) (i32.ne (local.get $status) (i32.const 200))
      (then (i32.const -1))
      (else (i32.add (i32.mul (local.get $value) (i32.const 2)) (i32.const 1))))))
