"""The demo workload: a few hundred customer questions (English and Korean) from many users.

``questions()`` lists the distinct questions; ``workload(n, seed=...)`` turns them into a
deterministic sequence of visits (user, session, question, streamed or not), including
questions the bot cannot answer, order look-ups that fail inside the app, and an empty
question (bad input). ``run_workload`` sends them through the traced bot.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from examples.support_bot import bot as support_bot

__all__ = ["Visit", "WorkloadResult", "questions", "run_workload", "workload"]

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DAYS_KO = ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"]
_PRODUCTS = [
    "Lumen X1 smartphone",
    "Lumen Tab 11 tablet",
    "AirBeat Pro earbuds",
    "Lumen Watch S2",
    "ClearView 27 monitor",
    "QuietKey mechanical keyboard",
    "Volt 20K power bank",
    "Lumen 65W USB-C charger",
    "screen repair for the Lumen X1",
    "data transfer service",
    "LumenCare+ extended warranty",
    "gift wrapping",
]
_PRODUCTS_KO = [
    "루멘 X1 스마트폰",
    "루멘 탭 11 태블릿",
    "에어비트 프로 무선 이어폰",
    "루멘 워치 S2 스마트워치",
    "클리어뷰 27 모니터",
    "콰이어트키 기계식 키보드",
    "볼트 20K 보조배터리",
    "루멘 65W USB-C 충전기",
    "선물 포장",
]
_DEVICES = [
    "Lumen X1",
    "Lumen Tab 11",
    "Lumen Watch S2",
    "AirBeat Pro",
    "Volt 20K power bank",
    "Lumen 65W charger",
]

_FIXED_EN = [
    "How long do I have to return a product?",
    "Can I return an opened item?",
    "Is there a restocking fee for opened products?",
    "How long does it take to get my refund?",
    "Can I exchange a product for a different colour?",
    "Can I return gift wrapping or a gift card?",
    "How much is the return shipping fee?",
    "How long does standard delivery take?",
    "How much does express delivery cost?",
    "When is standard delivery free?",
    "Do you ship internationally?",
    "Do you deliver to Jeju Island?",
    "What happens if I miss a delivery?",
    "What should I do if my parcel arrives damaged?",
    "When does an order placed after 2 PM ship?",
    "What does LumenCare+ cover?",
    "Does the warranty cover a cracked screen?",
    "How long do warranty repairs take?",
    "When is the customer service desk open?",
    "Where is the flagship store?",
    "Is parking free at the store?",
    "Are you open on public holidays?",
    "Is the store open on Chuseok?",
    "Do you sell refrigerators?",
    "Can you recommend a good restaurant near Gangnam station?",
]
_FIXED_KO = [
    "일요일에 매장 문을 여나요?",
    "반품 기간은 얼마나 되나요?",
    "개봉한 제품도 반품할 수 있나요?",
    "재입고 수수료가 있나요?",
    "환불은 언제 처리되나요?",
    "일반 배송은 며칠 걸리나요?",
    "특급 배송 비용은 얼마인가요?",
    "해외 배송이 되나요?",
    "제주도도 배송되나요?",
    "보조배터리 보증 기간은 얼마인가요?",
    "루멘 X1 보증 기간은 얼마인가요?",
    "루멘케어+ 연장 보증은 얼마인가요?",
    "고객센터 운영시간은 언제인가요?",
    "주차는 무료인가요?",
    "파손된 택배는 어떻게 신고하나요?",
]
_ORDERS = [
    "Where is my order #10002?",
    "What is the status of order 10001?",
    "주문번호 10003 배송 상태 알려주세요",
    "Where is my order #58213?",  # unknown to the order service: the app raises
    "My order number 77410 has not arrived, where is it?",  # unknown as well
]


def questions() -> list[str]:
    """Every distinct question of the workload (about 120, English and Korean)."""
    result: list[str] = []
    for day in _DAYS:
        result += [f"When do you open on {day}?", f"What time does the store close on {day}?"]
    result += [f"{day} 영업시간이 어떻게 되나요?" for day in _DAYS_KO]
    for product in _PRODUCTS:
        result += [f"How much is the {product}?", f"What does the {product} cost?"]
    result += [f"{product} 가격이 얼마인가요?" for product in _PRODUCTS_KO]
    result += [f"How long is the warranty on the {device}?" for device in _DEVICES]
    return result + _FIXED_EN + _FIXED_KO + _ORDERS


@dataclass(frozen=True)
class Visit:
    """One question asked by one user in one session."""

    question: str
    user_id: str
    session_id: str
    stream: bool


def workload(n: int = 240, *, seed: int = 42, users: int = 40) -> list[Visit]:
    """``n`` visits (deterministic for a seed): sessions of 1-4 questions, about 30% streamed."""
    if n < 1:
        raise ValueError("the workload needs at least one question")
    rng = random.Random(seed)
    pool = questions()
    order = pool * (n // len(pool) + 1)
    rng.shuffle(order)
    order = [*order[: n - 1], ""]  # one empty question: bad input the bot must reject
    rng.shuffle(order)
    visits: list[Visit] = []
    session_number = 0
    while len(visits) < n:
        session_number += 1
        user = f"user-{rng.randrange(users) + 1:03d}"
        session = f"session-{session_number:04d}"
        streamed = rng.random() < 0.3  # a chat widget session streams every answer
        for _ in range(rng.randint(1, 4)):
            if len(visits) == n:
                break
            visits.append(Visit(order[len(visits)], user, session, streamed))
    return visits


@dataclass
class WorkloadResult:
    """What happened: answers, failures by exception type, and how many were streamed."""

    asked: int = 0
    answered: int = 0
    streamed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str, str]] = field(default_factory=list)


def run_workload(
    visits: list[Visit], *, on_progress: Callable[[int, int], None] | None = None
) -> WorkloadResult:
    """Send every visit through the traced bot; exceptions are counted, as a web app would log them."""
    result = WorkloadResult()
    for index, visit in enumerate(visits, start=1):
        result.asked += 1
        try:
            if visit.stream:
                text = "".join(
                    support_bot.answer_stream(
                        visit.question, user_id=visit.user_id, session_id=visit.session_id
                    )
                )
                result.streamed += 1
            else:
                text = support_bot.answer(visit.question, user_id=visit.user_id, session_id=visit.session_id)
            result.answered += 1
            if len(result.samples) < 4 and visit.question:
                result.samples.append((visit.question, text))
        except Exception as exc:  # the demo's "web server" logs and carries on, like a request handler
            result.errors[type(exc).__name__] += 1
        if on_progress is not None:
            on_progress(index, len(visits))
    return result
