/**
 * `torch.linalg.solve(A, b)` for the tiny (order × order) float32 systems of UniPC: LU with partial
 * pivoting as LAPACK's sgetrf/sgetrs do it (multipliers scaled by the pivot's reciprocal), every
 * operation rounded to float32.
 */

const f32 = Math.fround;

/** Solves `matrix · x = rhs` (row-major `matrix[row][col]`) in float32. */
export function solveLinearSystemF32(matrix: readonly (readonly number[])[], rhs: readonly number[]): number[] {
  const n = rhs.length;
  const a = matrix.map((row) => row.map(f32));
  const x = rhs.map(f32);
  for (let col = 0; col < n; col++) {
    let pivotRow = col;
    for (let row = col + 1; row < n; row++) {
      if (Math.abs(a[row][col]) > Math.abs(a[pivotRow][col])) pivotRow = row;
    }
    if (a[pivotRow][col] === 0) throw new Error('solveLinearSystemF32: singular matrix');
    [a[col], a[pivotRow]] = [a[pivotRow], a[col]];
    [x[col], x[pivotRow]] = [x[pivotRow], x[col]];
    const reciprocal = f32(1 / a[col][col]);
    for (let row = col + 1; row < n; row++) {
      const multiplier = f32(a[row][col] * reciprocal);
      for (let k = col + 1; k < n; k++) a[row][k] = f32(a[row][k] - f32(multiplier * a[col][k]));
      x[row] = f32(x[row] - f32(multiplier * x[col]));
    }
  }
  for (let row = n - 1; row >= 0; row--) {
    x[row] = f32(x[row] / a[row][row]);
    for (let above = 0; above < row; above++) x[above] = f32(x[above] - f32(x[row] * a[above][row]));
  }
  return x;
}
