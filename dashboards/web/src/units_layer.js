// The units from zoom CLUSTERS_UNTIL on, drawn by our own WebGL layer in MapLibre's frame (a custom style
// layer) from one typed array: a move is a write into the array and the next frame draws it, with no worker in
// between. As a GeoJSON source, each update made MapLibre's one worker (two cores) invalidate every tile a
// moved unit touches, re-cut the root tile from all 10,000 units and re-parse every visible tile, whatever the
// size of the diff (geojson-vt's updateData). Figures in the README's bench.console row. Drawn as MapLibre's
// layers drew them: zoomed out a dot whose outline width tells the status, from SHAPES_FROM_ZOOM a shape per
// status and an arrow for the heading, grey when stale, a ring round the selected unit; clicks are hit-tested
// against what was last drawn.
//
// Lifecycle of the GL resources (made in render, where MapLibre has unbound its VAO, set the pixel store to its
// defaults, and resets its state cache after the call):
// | state | until              | render()                                                         |
// | none  | the first render   | makes the program, the buffer and the two textures, then as made |
// | made  | the page goes      | uploads the array if it changed (calling onDrawn), then draws it |
import maplibregl from "maplibre-gl";

const STRIDE = 5; // per unit: x, y (Web Mercator, from the layer's origin), status index, stale (0 or 1), course (° or -1)
const CELL = 24; // the shapes' side in the atlas, CSS pixels at icon size 1
const ARROW = 40;
const DOT_RADIUS = 4.5;
const RING_RADIUS = 13;
const RING_WIDTH = 3;
const MODE = { dots: 0, shapes: 1, arrows: 2, ring: 3 };

const vertexShader = (n) => `
attribute vec2 a_pos;
attribute vec3 a_props;
uniform mat4 u_matrix;
uniform float u_size;
uniform float u_mode;
uniform vec3 u_fill[${n}];
uniform float u_outline[${n}];
uniform vec3 u_stale;
varying vec3 v_fill;
varying float v_outline;
varying float v_cell;
varying float v_course;
void main() {
  int s = int(a_props.x + 0.5);
  v_fill = a_props.y > 0.5 ? u_stale : u_fill[s];
  v_outline = u_outline[s];
  v_cell = a_props.x + ${n.toFixed(1)} * a_props.y;
  v_course = a_props.z;
  gl_PointSize = u_size;
  gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
  if (u_mode == 2.0 && (a_props.z < 0.0 || a_props.y > 0.5)) gl_Position = vec4(0.0, 0.0, 2.0, 1.0); // no arrow
}`;

const fragmentShader = (edge, ring) => `
#ifdef GL_FRAGMENT_PRECISION_HIGH
precision highp float; // the atlas' cells are 1/16 of its width: mediump would blur across them
#else
precision mediump float;
#endif
uniform float u_mode;
uniform float u_size;
uniform float u_ratio;
uniform float u_bearing;
uniform float u_cells;
uniform sampler2D u_atlas;
uniform sampler2D u_arrow;
varying vec3 v_fill;
varying float v_outline;
varying float v_cell;
varying float v_course;
const vec3 EDGE = vec3(${rgb(edge).join(", ")});
const vec3 RING = vec3(${rgb(ring).join(", ")});
void main() {
  vec2 p = (gl_PointCoord - 0.5) * u_size / u_ratio; // CSS pixels from the unit, y down
  float d = length(p);
  if (u_mode == 1.0) {
    gl_FragColor = texture2D(u_atlas, vec2((v_cell + gl_PointCoord.x) / u_cells, gl_PointCoord.y));
  } else if (u_mode == 2.0) {
    float a = radians(v_course) - u_bearing; // clockwise on the screen, as the map turns
    vec2 q = vec2(p.x * cos(a) + p.y * sin(a), p.y * cos(a) - p.x * sin(a));
    gl_FragColor = texture2D(u_arrow, q / ${ARROW.toFixed(1)} + 0.5);
  } else if (u_mode == 0.0) {
    float outer = ${DOT_RADIUS.toFixed(1)} + v_outline;
    float alpha = 1.0 - smoothstep(outer - 0.5, outer + 0.5, d);
    float fill = v_outline > 0.0 ? 1.0 - smoothstep(${DOT_RADIUS.toFixed(1)} - 0.5, ${DOT_RADIUS.toFixed(1)} + 0.5, d) : 1.0;
    gl_FragColor = vec4(mix(EDGE, v_fill, fill) * alpha, alpha);
  } else {
    float alpha = smoothstep(${(RING_RADIUS - 0.5).toFixed(1)}, ${(RING_RADIUS + 0.5).toFixed(1)}, d)
      * (1.0 - smoothstep(${(RING_RADIUS + RING_WIDTH - 0.5).toFixed(1)}, ${(RING_RADIUS + RING_WIDTH + 0.5).toFixed(1)}, d));
    gl_FragColor = vec4(RING * alpha, alpha);
  }
  if (gl_FragColor.a == 0.0) discard;
}`;

function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
}

function compile(gl, type, source) {
  const s = gl.createShader(type);
  gl.shaderSource(s, source);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`units layer shader: ${gl.getShaderInfoLog(s)}`);
  return s;
}

function texture(gl, image) {
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, true); // MapLibre blends premultiplied colours
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, image);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  for (const [k, v] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR], [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]])
    gl.texParameteri(gl.TEXTURE_2D, k, v);
  return tex;
}

// The hit test's arithmetic, apart from the map: the id of the unit nearest to a point within `radius`
// pixels (on both axes, as a box query), or null. `xy(i)` gives slot i's screen position.
function nearest(count, xy, point, radius) {
  let best = -1;
  let bestD = Infinity;
  for (let i = 0; i < count; i++) {
    const [x, y] = xy(i);
    const dx = Math.abs(x - point[0]);
    const dy = Math.abs(y - point[1]);
    if (dx > radius || dy > radius) continue;
    const d = dx * dx + dy * dy;
    if (d < bestD) (best = i), (bestD = d);
  }
  return best;
}

// The units' positions and looks, one dense Float32Array of STRIDE floats a unit (what the GPU reads), by id.
class UnitArray {
  constructor(statuses) {
    this.statusIndex = new Map(statuses.map((s, i) => [s, i]));
    this.data = new Float32Array(STRIDE * 1024);
    this.ids = []; // slot → unit id
    this.slots = new Map(); // unit id → slot
    this.origin = null; // the Web Mercator point positions are kept from (float32 keeps a metre only near it)
  }

  get count() {
    return this.ids.length;
  }

  // A unit at a place with a status (a name in `statuses`), stale or not, with a course (° from north) or null.
  set(id, lon, lat, status, stale, course) {
    const m = maplibregl.MercatorCoordinate.fromLngLat([lon, lat]);
    if (!this.origin) this.origin = [m.x, m.y];
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.ids.length;
      if ((slot + 1) * STRIDE > this.data.length) {
        const grown = new Float32Array(this.data.length * 2);
        grown.set(this.data);
        this.data = grown;
      }
      this.ids.push(id);
      this.slots.set(id, slot);
    }
    const o = slot * STRIDE;
    this.data[o] = m.x - this.origin[0];
    this.data[o + 1] = m.y - this.origin[1];
    this.data[o + 2] = this.statusIndex.get(status) ?? this.statusIndex.get("unknown");
    this.data[o + 3] = stale ? 1 : 0;
    this.data[o + 4] = course ?? -1;
  }

  remove(id) {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    const last = this.ids.length - 1; // the last slot moves into the freed one: the array stays dense
    if (slot !== last) {
      this.data.copyWithin(slot * STRIDE, last * STRIDE, (last + 1) * STRIDE);
      this.ids[slot] = this.ids[last];
      this.slots.set(this.ids[slot], slot);
    }
    this.ids.pop();
    this.slots.delete(id);
  }

  // A copy of the positions as they are (what a frame drew): ids by slot and Web Mercator points.
  snapshot() {
    const n = this.ids.length;
    const points = new Float64Array(2 * n);
    const [ox, oy] = this.origin || [0, 0];
    for (let i = 0; i < n; i++) {
      points[2 * i] = this.data[i * STRIDE] + ox;
      points[2 * i + 1] = this.data[i * STRIDE + 1] + oy;
    }
    return { ids: this.ids.slice(), points };
  }
}

// The custom layer: draws a UnitArray in MapLibre's frame, and answers which unit was drawn at a point.
export class UnitsLayer {
  // statuses: the status names in their index order; fills and outlines by status; shapeImage(status, stale)
  // and arrowImage() the icons, as ImageData; onDrawn() is called in each frame that draws new positions.
  constructor({ id, statuses, fills, outlines, staleFill, edge, ring, shapeImage, arrowImage, minZoom, shapesFromZoom, onDrawn }) {
    this.id = id;
    this.type = "custom";
    this.renderingMode = "2d";
    this.statuses = statuses;
    this.fills = fills;
    this.outlines = outlines;
    this.staleFill = staleFill;
    this.edge = edge;
    this.ring = ring;
    this.shapeImage = shapeImage;
    this.arrowImage = arrowImage;
    this.minZoom = minZoom;
    this.shapesFromZoom = shapesFromZoom;
    this.onDrawn = onDrawn;
    this.units = new UnitArray(statuses);
    this.dirty = false;
    this.drawn = { ids: [], points: new Float64Array(0) }; // as of the last upload: what the hit test reads
    this.selected = null;
    this.gl = null;
    this.map = null;
  }

  onAdd(map) {
    this.map = map;
  }

  set(id, lon, lat, status, stale, course) {
    this.units.set(id, lon, lat, status, stale, course);
    this.changed();
  }

  remove(id) {
    this.units.remove(id);
    this.changed();
  }

  select(id) {
    this.selected = id || null;
    this.changed();
  }

  // A repaint only where the change shows: below minZoom only the selection's ring is drawn (the next frame,
  // whatever asks for it, uploads the rest). Each repaint is the whole map's, which software WebGL pays for.
  changed() {
    this.dirty = true;
    if (this.map && (this.map.getZoom() >= this.minZoom || this.selected != null)) this.map.triggerRepaint();
  }

  // The id of the drawn unit within `radius` CSS pixels of a screen point (nearest first), or null.
  hit(point, radius) {
    if (!this.map || this.map.getZoom() < this.minZoom) return null;
    const { ids, points } = this.drawn;
    // Only units whose Web Mercator position is near the point's are projected.
    const at = maplibregl.MercatorCoordinate.fromLngLat(this.map.unproject(point));
    const near = (radius * 2) / this.map.transform.worldSize;
    const candidates = [];
    for (let i = 0; i < ids.length; i++) if (Math.abs(points[2 * i] - at.x) <= near && Math.abs(points[2 * i + 1] - at.y) <= near) candidates.push(i);
    const xy = (k) => {
      const i = candidates[k];
      const p = this.map.project(new maplibregl.MercatorCoordinate(points[2 * i], points[2 * i + 1]).toLngLat());
      return [p.x, p.y];
    };
    const best = nearest(candidates.length, xy, [point.x, point.y], radius);
    return best < 0 ? null : ids[candidates[best]];
  }

  setup(gl) {
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, vertexShader(this.statuses.length)));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, fragmentShader(this.edge, this.ring)));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`units layer program: ${gl.getProgramInfoLog(program)}`);
    const u = {};
    for (const name of ["u_matrix", "u_size", "u_mode", "u_fill", "u_outline", "u_stale", "u_ratio", "u_bearing", "u_cells", "u_atlas", "u_arrow"])
      u[name] = gl.getUniformLocation(program, name);
    const cells = 2 * this.statuses.length; // each status fresh, then each stale
    const atlas = document.createElement("canvas");
    atlas.width = CELL * cells;
    atlas.height = CELL;
    const g = atlas.getContext("2d");
    this.statuses.forEach((s, i) => {
      g.putImageData(this.shapeImage(s, false), i * CELL, 0);
      g.putImageData(this.shapeImage(s, true), (i + this.statuses.length) * CELL, 0);
    });
    const arrow = document.createElement("canvas");
    arrow.width = arrow.height = ARROW;
    arrow.getContext("2d").putImageData(this.arrowImage(), 0, 0);
    this.gl = {
      program,
      u,
      cells,
      buffer: gl.createBuffer(),
      atlas: texture(gl, atlas),
      arrow: texture(gl, arrow),
      a_pos: gl.getAttribLocation(program, "a_pos"),
      a_props: gl.getAttribLocation(program, "a_props"),
    };
  }

  upload(gl) {
    const r = this.gl;
    const { data, count } = this.units;
    gl.bindBuffer(gl.ARRAY_BUFFER, r.buffer);
    gl.bufferData(gl.ARRAY_BUFFER, data.subarray(0, count * STRIDE), gl.DYNAMIC_DRAW); // new storage: no wait on the last frame's
    this.drawn = this.units.snapshot();
    this.dirty = false;
  }

  // Clip space from the layer's origin: the camera's matrix (float64) times the origin's offset and the world's
  // scale, so the float32 positions the GPU sees stay small.
  matrix(viewProjection, worldSize) {
    const [ox, oy] = this.units.origin;
    const m = new Float32Array(16);
    for (let r = 0; r < 4; r++) {
      m[r] = viewProjection[r] * worldSize;
      m[4 + r] = viewProjection[4 + r] * worldSize;
      m[8 + r] = viewProjection[8 + r];
      m[12 + r] = viewProjection[r] * ox * worldSize + viewProjection[4 + r] * oy * worldSize + viewProjection[12 + r];
    }
    return m;
  }

  render(gl, args) {
    if (!this.gl) this.setup(gl);
    const r = this.gl;
    const wasDirty = this.dirty;
    if (this.dirty) this.upload(gl);
    if (wasDirty && this.onDrawn) this.onDrawn();
    const count = this.units.count;
    if (!count) return;
    const zoom = this.map.getZoom();
    const ratio = this.map.getPixelRatio();
    const selected = this.units.slots.get(this.selected) ?? -1; // the slots drawn: uploaded above
    const passes = [];
    if (zoom >= this.shapesFromZoom) {
      const iconSize = Math.min(1, 0.8 + (0.2 * (zoom - this.shapesFromZoom)) / 2); // as MapLibre's icon-size was
      passes.push([MODE.arrows, ARROW, 0, count], [MODE.shapes, CELL * iconSize, 0, count]);
    } else if (zoom >= this.minZoom) passes.push([MODE.dots, 2 * (DOT_RADIUS + Math.max(...Object.values(this.outlines)) + 1), 0, count]);
    if (selected >= 0 && selected < count) passes.push([MODE.ring, 2 * (RING_RADIUS + RING_WIDTH + 1), selected, 1]);
    if (!passes.length) return;
    gl.useProgram(r.program);
    gl.bindBuffer(gl.ARRAY_BUFFER, r.buffer);
    gl.enableVertexAttribArray(r.a_pos);
    gl.vertexAttribPointer(r.a_pos, 2, gl.FLOAT, false, STRIDE * 4, 0);
    gl.enableVertexAttribArray(r.a_props);
    gl.vertexAttribPointer(r.a_props, 3, gl.FLOAT, false, STRIDE * 4, 8);
    gl.uniformMatrix4fv(r.u.u_matrix, false, this.matrix(args.modelViewProjectionMatrix, this.map.transform.worldSize));
    gl.uniform3fv(r.u.u_fill, this.statuses.flatMap((s) => rgb(this.fills[s])));
    gl.uniform1fv(r.u.u_outline, this.statuses.map((s) => this.outlines[s]));
    gl.uniform3fv(r.u.u_stale, rgb(this.staleFill));
    gl.uniform1f(r.u.u_ratio, ratio);
    gl.uniform1f(r.u.u_bearing, (this.map.getBearing() * Math.PI) / 180);
    gl.uniform1f(r.u.u_cells, r.cells);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, r.atlas);
    gl.uniform1i(r.u.u_atlas, 0);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, r.arrow);
    gl.uniform1i(r.u.u_arrow, 1);
    for (const [mode, size, first, n] of passes) {
      gl.uniform1f(r.u.u_mode, mode);
      gl.uniform1f(r.u.u_size, size * ratio);
      gl.drawArrays(gl.POINTS, first, n);
    }
    gl.disableVertexAttribArray(r.a_pos);
    gl.disableVertexAttribArray(r.a_props);
    gl.activeTexture(gl.TEXTURE0);
  }
}
