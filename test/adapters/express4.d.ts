// The `express4` alias (Express 4) ships no types; its API is the one @types/express describes for what the tests use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
