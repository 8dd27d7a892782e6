/** The honest fallback: QNN_NATIVE=0 forces TS; QNN_REQUIRE_NATIVE=1 turns fallback into an error. */
describe('native loader fallback', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    jest.resetModules();
  });

  it('QNN_NATIVE=0: backends() reports native unavailable with the reason, auto resolves to js', () => {
    process.env.QNN_NATIVE = '0';
    delete process.env.QNN_REQUIRE_NATIVE;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const api = require('../../src') as typeof import('../../src');
      const list = api.backends();
      const nat = list.find((b) => b.name === 'native')!;
      expect(nat.available).toBe(false);
      expect(nat.reason).toMatch(/QNN_NATIVE=0/);
      expect(list.find((b) => b.name === 'js')!.available).toBe(true);
      const r = api.msq({ weights: Float32Array.from([0.4, -2]), alphabet: Float32Array.from([-1, 0, 1]) });
      expect(Array.from(r.codes)).toEqual([1, 0]);
      expect(api.buildInfo().native).toBeNull();
    });
  });

  it('QNN_REQUIRE_NATIVE=1 with the addon unavailable throws QNN_E_NATIVE_UNAVAILABLE listing the causes', () => {
    process.env.QNN_NATIVE = '0';
    process.env.QNN_REQUIRE_NATIVE = '1';
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const api = require('../../src') as typeof import('../../src');
      let err: unknown;
      try {
        api.msq({ weights: Float32Array.from([0.4]), alphabet: Float32Array.from([0]) });
      } catch (e) {
        err = e;
      }
      expect((err as { code: string }).code).toBe('QNN_E_NATIVE_UNAVAILABLE');
      expect((err as Error).message).toMatch(/QNN_NATIVE=0 disables the native addon/);
      expect(api.backends().length).toBe(3); // backends() itself never throws
    });
  });

  it('QNN_NATIVE_PATH pointing at a missing file is recorded as a load failure', () => {
    delete process.env.QNN_NATIVE;
    process.env.QNN_NATIVE_PATH = '/nonexistent/qnn_native.node';
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { nativeState } = require('../../src/native/load') as typeof import('../../src/native/load');
      const s = nativeState();
      expect(s.failures.some((f) => f.includes('/nonexistent/qnn_native.node: not built'))).toBe(true);
    });
  });
});
