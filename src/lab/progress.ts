/** Progress on a TTY (one rewritten line with elapsed time), plain lines otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  step: (what: string) => void;
  done: () => void;
} {
  const t0 = Date.now();
  let current = '';
  let timer: NodeJS.Timeout | undefined;
  const draw = () => stream.write(`\r\x1b[2K[lab ${((Date.now() - t0) / 1000).toFixed(1)} s] ${current}`);
  return {
    step(what) {
      current = what;
      if (!stream.isTTY) {
        stream.write(`[lab ${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);
        return;
      }
      draw();
      timer ??= setInterval(draw, 200);
      if (what === 'running job') this.done();
    },
    done() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (stream.isTTY && current) stream.write('\r\x1b[2K');
    },
  };
}
