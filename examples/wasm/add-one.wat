;; The example component's core module: plain numeric functions, no memory traffic, so the
;; canonical ABI needs nothing but a (never used) realloc.
(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "add-one") (param i32) (result i32)
    (i32.add (local.get 0) (i32.const 1)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "divide") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1))))
