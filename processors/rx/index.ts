/**
 * RxJS as the processors use it, from its per-module entries (`rxjs/internal/*`, which its
 * package exports). Its index (`rxjs`) loads all 223 of its CommonJS modules, ~80 ms at every
 * process start on a small machine; these load ~55, in ~40 ms. The rest of the node imports
 * RxJS from here (eslint.config.js); the classes are the index's own, module for module.
 *
 * @module
 */
export { Observable } from 'rxjs/internal/Observable';
export { Subject } from 'rxjs/internal/Subject';
export { ReplaySubject } from 'rxjs/internal/ReplaySubject';
export { Subscription } from 'rxjs/internal/Subscription';
export { Subscriber } from 'rxjs/internal/Subscriber';
export { merge } from 'rxjs/internal/observable/merge';
export { filter } from 'rxjs/internal/operators/filter';
export { finalize } from 'rxjs/internal/operators/finalize';
export { map } from 'rxjs/internal/operators/map';
export { mergeMap } from 'rxjs/internal/operators/mergeMap';
export { switchMap } from 'rxjs/internal/operators/switchMap';
export { take } from 'rxjs/internal/operators/take';
export { tap } from 'rxjs/internal/operators/tap';
export type { MonoTypeOperatorFunction, OperatorFunction } from 'rxjs/internal/types';
