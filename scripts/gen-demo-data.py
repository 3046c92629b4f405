#!/usr/bin/env python3
"""Generates the demo company's HR exports (configs/demo/*.csv) in GBK, the
way Excel on Chinese Windows saves them. Deterministic: rerun to reproduce.

day1: about 300 people in a department tree. day2 ("the next day"): hires,
leavers (rows gone), people marked 离职, movers, a rehire, and the department
研发中心 renamed to 技术中心 (same org code D02, so it is a rename)."""
import csv, io, random, os

random.seed(20261123)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华玉兰文辉晓东志强海燕红梅丹丹思远子涵雨桐浩然一诺欣怡梓轩佳怡宇航俊杰"
DEPTS = [  # code, name, parent code, order
    ("D01", "总部", "", 100),
    ("D02", "研发中心", "D01", 90),
    ("D03", "后端组", "D02", 30),
    ("D04", "前端组", "D02", 20),
    ("D05", "测试组", "D02", 10),
    ("D06", "销售部", "D01", 80),
    ("D07", "华东大区", "D06", 20),
    ("D08", "华南大区", "D06", 10),
    ("D09", "人力资源部", "D01", 70),
    ("D10", "财务部", "D01", 60),
]
WEIGHTS = {"D01": 6, "D03": 70, "D04": 50, "D05": 30, "D06": 4, "D07": 55, "D08": 45, "D09": 15, "D10": 15, "D02": 4}
POSITIONS = {"D01": "总经理", "D02": "研发总监", "D03": "后端工程师", "D04": "前端工程师", "D05": "测试工程师",
             "D06": "销售总监", "D07": "客户经理", "D08": "客户经理", "D09": "HRBP", "D10": "会计"}

def name():
    g = GIVEN[random.randrange(len(GIVEN))]
    if random.random() < 0.6:
        g += GIVEN[random.randrange(len(GIVEN))]
    return SURNAMES[random.randrange(len(SURNAMES))] + g

def path(code, depts):
    by = {d[0]: d for d in depts}
    parts = []
    while code:
        parts.append(by[code][1]); code = by[code][2]
    return "/".join(reversed(parts))

people = []
n = 0
heads = {}
for code, _, _, _ in DEPTS:
    for i in range(WEIGHTS[code]):
        n += 1
        emp = "E%05d" % n
        heads.setdefault(code, emp)
        pos = POSITIONS[code] if heads[code] == emp or code != "D01" else "副总经理"
        people.append({"工号": emp, "姓名": name(), "部门编码": code, "职位": pos, "手机": "",
                       "邮箱": "", "性别": random.choice(["男", "女"]), "状态": "在职", "直属上级工号": ""})
for i, p in enumerate(people):
    num = 13800000000 + (i + 1) * 7919
    s = str(num)
    p["手机"] = random.choice([s, s[:3] + " " + s[3:7] + " " + s[7:], "+86-" + s])
    p["邮箱"] = ("User%05d@Demo.Example.COM" % (i + 1)) if random.random() < 0.5 else "user%05d@demo.example.com" % (i + 1)
    code = p["部门编码"]
    parent = dict((d[0], d[2]) for d in DEPTS)[code]
    leader = heads[code] if heads[code] != p["工号"] else heads.get(parent, "")
    p["直属上级工号"] = leader

COLS = ["工号", "姓名", "部门", "部门编码", "职位", "手机", "邮箱", "性别", "状态", "直属上级工号"]

def write(fname, rows, depts):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLS)
    for p in rows:
        r = dict(p); r["部门"] = path(p["部门编码"], depts)
        w.writerow([r[c] for c in COLS])
    with open(fname, "wb") as f:
        f.write(buf.getvalue().encode("gbk"))

def write_depts(fname, depts):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["部门编码", "部门名称", "上级部门编码", "排序"])
    for d in depts:
        w.writerow(d)
    with open(fname, "wb") as f:
        f.write(buf.getvalue().encode("gbk"))

out = os.path.join(os.path.dirname(__file__), "..", "configs", "demo")
write(os.path.join(out, "day1", "employees_20261122.csv"), people, DEPTS)
write_depts(os.path.join(out, "day1", "departments.csv"), DEPTS)

# Day 2.
day2 = [dict(p) for p in people]
leader_ids = {p["直属上级工号"] for p in day2}
non_leaders = [p for p in day2 if p["工号"] not in leader_ids and p["部门编码"] not in ("D01",)]
leavers = random.sample(non_leaders, 8)
gone = {p["工号"] for p in leavers[:5]}
for p in leavers[5:]:
    p["状态"] = "离职"
day2 = [p for p in day2 if p["工号"] not in gone]
movers = random.sample([p for p in day2 if p["部门编码"] in ("D03", "D04", "D07") and p["工号"] not in leader_ids and p["状态"] == "在职"], 12)
for p in movers:
    p["部门编码"] = {"D03": "D04", "D04": "D05", "D07": "D08"}[p["部门编码"]]
    p["直属上级工号"] = heads[p["部门编码"]]
changed = random.sample([p for p in day2 if p["状态"] == "在职" and p not in movers], 6)
for p in changed:
    p["职位"] = "高级" + p["职位"]
for i in range(10):
    n += 1
    code = random.choice(["D03", "D04", "D05", "D07", "D08"])
    s = str(13900000000 + n * 104729)
    day2.append({"工号": "E%05d" % n, "姓名": name(), "部门编码": code, "职位": POSITIONS[code], "手机": s,
                 "邮箱": "user%05d@demo.example.com" % n, "性别": random.choice(["男", "女"]), "状态": "在职",
                 "直属上级工号": heads[code]})
DEPTS2 = [d if d[0] != "D02" else ("D02", "技术中心", "D01", 90) for d in DEPTS]
write(os.path.join(out, "day2", "employees_20261123.csv"), day2, DEPTS2)
write_depts(os.path.join(out, "day2", "departments.csv"), DEPTS2)
print("day1: %d people, day2: %d people (%d left, %d 离职, %d moved, %d changed, 10 hired)" % (
    len(people), len(day2), len(gone), 3, len(movers), len(changed)))

# Day 4: the HR system's API (served by `orgsync hr-api-emulator`) adds each
# person's English name, nested the way HR APIs nest it. Its own random
# stream, so the CSV exports above stay exactly as they were.
import json
rnd = random.Random(20261125)
PINYIN = {"王": "Wang", "李": "Li", "张": "Zhang", "刘": "Liu", "陈": "Chen", "杨": "Yang", "黄": "Huang", "赵": "Zhao",
          "吴": "Wu", "周": "Zhou", "徐": "Xu", "孙": "Sun", "马": "Ma", "朱": "Zhu", "胡": "Hu", "郭": "Guo", "何": "He",
          "高": "Gao", "林": "Lin", "罗": "Luo", "郑": "Zheng", "梁": "Liang", "谢": "Xie", "宋": "Song", "唐": "Tang"}
FIRST = ["Alice", "Bob", "Cathy", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack", "Kevin", "Lily",
         "Mike", "Nina", "Oscar", "Peggy", "Quinn", "Rose", "Sam", "Tina", "Vera", "Will", "Zoe"]
profiles = [{"employee_id": p["工号"], "person": {"english_name": "%s %s" % (rnd.choice(FIRST), PINYIN.get(p["姓名"][0], "Chen"))},
             "employment": {"status": "active" if p["状态"] == "在职" else "terminated"}}
            for p in day2]
os.makedirs(os.path.join(out, "day4"), exist_ok=True)
with open(os.path.join(out, "day4", "profiles.json"), "w", encoding="utf-8") as f:
    json.dump(profiles, f, ensure_ascii=False, indent=1)
print("day4: %d HR API profiles" % len(profiles))
