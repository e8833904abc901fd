/**
 * Compile-time checks that keep a hand-written option interface and its internal zod schema in step:
 * `Equal<z.input<typeof schema>, Options>` is `true` only when both are the same type, so adding,
 * removing or retyping an option in one place and not the other fails `tsc`.
 *
 * @internal
 */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Compiles only when `T` is `true`. @internal */
export type Assert<T extends true> = T;
