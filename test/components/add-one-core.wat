;; A plain core module (no component metadata), called directly with numbers.
(module
  (memory (export "memory") 1)
  (func (export "add_one") (param i32) (result i32)
    (i32.add (local.get 0) (i32.const 1)))
  (func (export "add_u64") (param i64 i64) (result i64)
    (i64.add (local.get 0) (local.get 1)))
  (func (export "half") (param f64) (result f64)
    (f64.div (local.get 0) (f64.const 2)))
  (func (export "spin") (result i32)
    (loop $l (br $l))
    (i32.const 0)))
